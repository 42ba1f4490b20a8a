from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_platform.db import TimestampMixin, utcnow
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from crm_leads.db import Base

STATES = ("pending", "failed", "completed")


class LeadConversion(TimestampMixin, Base):
    """The conversion of one lead (at most one per lead). ``id`` is the conversion id sent to deals: every
    attempt reuses it, so a retry after a lost answer gets the records the first attempt created.

    pending: requested, not finished (``in_flight_until`` in the future = an attempt is running; in the
    past = the last attempt could not reach deals and the sweep retries it); failed: deals refused it and
    rolled back (the lead is untouched, the reason is kept); completed: the lead is converted."""

    __tablename__ = "lead_conversion"
    __table_args__ = (
        Index("ix_lead_conversion_pending", "in_flight_until", postgresql_where="state = 'pending'"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("lead.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    in_flight_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    requested_by: Mapped[str] = mapped_column(String(100), default="")
    organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    organization_created: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_created: Mapped[bool] = mapped_column(Boolean, default=False)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MovedActivity(Base):
    """A lead activity that now lives on the opportunity in deals (the lead's copy stays for reporting)."""

    __tablename__ = "lead_conversion_activity"

    conversion_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("lead_conversion.id", ondelete="CASCADE"), primary_key=True
    )
    activity_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, index=True)
    deals_activity_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    moved_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
