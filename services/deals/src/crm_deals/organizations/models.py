from __future__ import annotations

import uuid
from typing import Any

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import ForeignKey, String, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_deals.db import Base


class Organization(IdMixin, TimestampMixin, Base):
    __tablename__ = "organization"

    name: Mapped[str] = mapped_column(String(300))
    domain: Mapped[str] = mapped_column(String(253), default="", index=True)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    owner_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100), default="")


class Contact(IdMixin, TimestampMixin, Base):
    __tablename__ = "contact"

    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organization.id", ondelete="SET NULL"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    emails: Mapped[list[str]] = mapped_column(ARRAY(String(320)), default=list)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    owner_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100), default="")
