from __future__ import annotations

from typing import Any

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_leads.db import Base


class Lead(IdMixin, TimestampMixin, Base):
    __tablename__ = "lead"

    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    emails: Mapped[list[str]] = mapped_column(ARRAY(String(320)), default=list)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    source: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(40), default="new", index=True)
    owner_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[int | None] = mapped_column(Integer)
