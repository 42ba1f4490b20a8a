from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from crm_platform.db import utcnow
from sqlalchemy import Column, Date, DateTime, Index, Integer, Numeric, SmallInteger, String, Table, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_deals.db import Base


class ForecastSnapshot(Base):
    """The forecast as it stood on ``snapshot_date``, per pipeline, owner, team, close month and currency
    (quarters are sums of months), so a manager can see what the forecast said on a past date."""

    __tablename__ = "forecast_snapshot"

    snapshot_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    pipeline_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(100), primary_key=True)  # "" = unassigned
    team: Mapped[str] = mapped_column(String(100), primary_key=True)
    period_month: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    pipeline: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    weighted: Mapped[Decimal] = mapped_column(Numeric(24, 4))
    commit: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    best_case: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    closed: Mapped[Decimal] = mapped_column(Numeric(20, 2))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# Report rollups (migration 0004): counts and sums per report key at month grain, kept exact by PostgreSQL
# triggers on opportunity and opportunity_stage_history in the writer's own transaction (+= deltas through
# INSERT ... ON CONFLICT DO UPDATE); read by crm_deals.reports.repository, never written by Python code.
# Keys may hold NULL (no owner, no close date), hence unique indexes NULLS NOT DISTINCT (PostgreSQL 15+).


def _rollup(name: str, key: list[Column[object]], sums: list[str]) -> Table:
    return Table(
        name,
        Base.metadata,
        *key,
        *(Column(s, Numeric(), nullable=False, server_default="0") for s in sums),
        Index(f"uq_{name}_key", *(c.name for c in key), unique=True, postgresql_nulls_not_distinct=True),
    )


def _owner_team() -> list[Column[object]]:
    return [Column("owner_id", String(100), nullable=True), Column("team", String(100), nullable=False)]


forecast_rollup = _rollup(
    "opportunity_forecast_rollup",
    [
        Column("pipeline_id", Uuid(), nullable=False),
        *_owner_team(),
        Column("close_month", Date(), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("forecast_code", SmallInteger(), nullable=False),
    ],
    ["count", "amount_cents", "weighted_e4"],
)
funnel_rollup = _rollup(
    "opportunity_funnel_rollup",
    [
        Column("pipeline_id", Uuid(), nullable=False),
        Column("stage_id", Uuid(), nullable=False),
        *_owner_team(),
        Column("created_month", Date(), nullable=False),
        Column("currency", String(3), nullable=False),
        Column("furthest_position", Integer(), nullable=False),
    ],
    ["count", "amount_cents"],
)
win_loss_rollup = _rollup(
    "opportunity_win_loss_rollup",
    [
        Column("pipeline_id", Uuid(), nullable=False),
        *_owner_team(),
        Column("closed_month", Date(), nullable=True),
        Column("status", String(10), nullable=False),
        Column("source", String(100), nullable=False),
        Column("lost_reason", String(200), nullable=False),
    ],
    ["count"],
)
stage_duration_rollup = _rollup(
    "opportunity_stage_duration_rollup",
    [
        Column("pipeline_id", Uuid(), nullable=False),
        *_owner_team(),
        Column("from_stage_id", Uuid(), nullable=False),
        Column("changed_month", Date(), nullable=False),
    ],
    ["samples", "timed", "seconds"],
)
# the same per UTC day, for a period bound inside a month (the edge days)
stage_duration_daily = _rollup(
    "opportunity_stage_duration_daily",
    [
        Column("pipeline_id", Uuid(), nullable=False),
        Column("changed_day", Date(), nullable=False),
        Column("from_stage_id", Uuid(), nullable=False),
        *_owner_team(),
    ],
    ["samples", "timed", "seconds"],
)
