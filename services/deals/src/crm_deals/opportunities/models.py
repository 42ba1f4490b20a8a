from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from crm_platform.db import IdMixin, TimestampMixin, utcnow
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_deals.db import Base

ACTIVITY_KINDS = ("note", "task", "event", "call", "email")


class Opportunity(IdMixin, TimestampMixin, Base):
    __tablename__ = "opportunity"
    __table_args__ = (
        Index("ix_opportunity_pipeline_stage", "pipeline_id", "stage_id"),
        Index("ix_opportunity_open_stage_entered", "stage_entered_at", postgresql_where="status = 'open'"),
        CheckConstraint("probability BETWEEN 0 AND 100", name="probability"),
        CheckConstraint("status IN ('open', 'won', 'lost')", name="status"),
    )

    name: Mapped[str] = mapped_column(String(300))
    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipeline.id"))
    stage_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stage.id"))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL"), index=True
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3))
    probability: Mapped[int] = mapped_column(SmallInteger)
    forecast_category: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="open")
    expected_close_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    owner_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100), default="", index=True)
    source: Mapped[str] = mapped_column(String(100), default="")
    campaign: Mapped[str] = mapped_column(String(200), default="")
    lost_reason: Mapped[str] = mapped_column(String(200), default="")
    next_step: Mapped[str] = mapped_column(String(500), default="")
    lead_id: Mapped[uuid.UUID | None] = mapped_column()
    stage_entered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    furthest_position: Mapped[int] = mapped_column(Integer)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    snoozed_until: Mapped[dt.date | None] = mapped_column(Date)
    stalled_alerted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class StageHistory(IdMixin, Base):
    """Every stage move: who, when, from, to, and how long the opportunity stayed in ``from``."""

    __tablename__ = "opportunity_stage_history"
    __table_args__ = (Index("ix_opportunity_stage_history_from_changed", "from_stage_id", "changed_at"),)

    opportunity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("opportunity.id", ondelete="CASCADE"), index=True
    )
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column()
    to_stage_id: Mapped[uuid.UUID] = mapped_column()
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seconds_in_from_stage: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500), default="")


class Snooze(IdMixin, Base):
    """An owner's "this deal is stalled but alive": no stalled alert until ``until``."""

    __tablename__ = "opportunity_snooze"

    opportunity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("opportunity.id", ondelete="CASCADE"), index=True
    )
    until: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(500))
    snoozed_by: Mapped[str] = mapped_column(String(100))
    stage_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DealActivity(IdMixin, TimestampMixin, Base):
    """A note, task, event, logged call or e-mail on an opportunity (and its contact/organization)."""

    __tablename__ = "deal_activity"
    __table_args__ = (UniqueConstraint("source_ref", name="uq_deal_activity_source_ref"),)

    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("opportunity.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contact.id", ondelete="SET NULL"), index=True
    )
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    starts_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    source_ref: Mapped[str | None] = mapped_column(String(100))
