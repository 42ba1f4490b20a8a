from __future__ import annotations

import datetime as dt

from crm_platform.db import IdMixin, utcnow
from sqlalchemy import DateTime, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from crm_telephony.db import Base


class PhoneIndexEntry(IdMixin, Base):
    """One phone number of one record owned by another service (a projection fed by its events)."""

    __tablename__ = "phone_index"
    __table_args__ = (
        UniqueConstraint("e164", "record_service", "record_type", "record_id"),
        Index(None, "record_service", "record_type", "record_id"),
    )

    e164: Mapped[str] = mapped_column(String(20))
    record_service: Mapped[str] = mapped_column(String(40))
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(300), default="")
    owner_id: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), onupdate=utcnow
    )


class IndexSource(Base):
    """Per indexed record: when the latest event applied to it happened (an older one is skipped) and,
    once merged, the record it was merged into (its later events are skipped)."""

    __tablename__ = "phone_index_source"

    record_service: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_type: Mapped[str] = mapped_column(String(40), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    merged_into_id: Mapped[str | None] = mapped_column(String(64))
