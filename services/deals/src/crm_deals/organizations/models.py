from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_deals.db import Base

BUYER_STATUSES = ("prospect", "one_time", "returning", "regular")


class _Party:
    """Columns organizations and contacts share: contact points, address, owner, customer lifecycle."""

    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    phone_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    street: Mapped[str] = mapped_column(String(500), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    owner_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100), default="", index=True)
    buyer_status: Mapped[str] = mapped_column(String(20), default="prospect")
    paid_invoices: Mapped[int] = mapped_column(Integer, default=0)
    first_paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Organization(IdMixin, TimestampMixin, _Party, Base):
    __tablename__ = "organization"
    __table_args__ = (Index("ix_organization_phone_numbers", "phone_numbers", postgresql_using="gin"),)

    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), default="", index=True)
    domain: Mapped[str] = mapped_column(String(253), default="", index=True)
    emails: Mapped[list[str]] = mapped_column(ARRAY(String(320)), default=list)
    industry: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")


class Contact(IdMixin, TimestampMixin, _Party, Base):
    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_phone_numbers", "phone_numbers", postgresql_using="gin"),
        Index("ix_contact_emails", "emails", postgresql_using="gin"),
    )

    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("organization.id", ondelete="SET NULL"), index=True
    )
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    emails: Mapped[list[str]] = mapped_column(ARRAY(String(320)), default=list)
