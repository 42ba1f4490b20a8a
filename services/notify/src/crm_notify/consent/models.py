from __future__ import annotations

import datetime as dt

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import DateTime, String, Text, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_notify.db import Base

PURPOSES = ("transactional", "service", "marketing")
CONSENT_STATUSES = ("opted_in", "pending", "opted_out")


class ContactPoint(IdMixin, TimestampMixin, Base):
    """Preferences of one address on one channel: its time zone and quiet hours (local time)."""

    __tablename__ = "contact_point"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contact_point_channel_address"),)

    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(320))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_start: Mapped[dt.time | None] = mapped_column(Time)
    quiet_end: Mapped[dt.time | None] = mapped_column(Time)


class Consent(IdMixin, TimestampMixin, Base):
    """Consent of one address on one channel for one purpose; marketing needs a confirmed opt-in."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("channel", "address", "purpose", name="uq_consent_channel_address_purpose"),
    )

    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(320))
    purpose: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(100), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    requested_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
