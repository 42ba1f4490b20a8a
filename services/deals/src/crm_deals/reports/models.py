from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from crm_platform.db import utcnow
from sqlalchemy import Date, DateTime, Integer, Numeric, String
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
