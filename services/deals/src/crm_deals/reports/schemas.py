from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

Period = Literal["month", "quarter"]


@dataclass(frozen=True)
class Scope:
    """A report's filters after the caller's role narrowed them."""

    owner_id: str | None = None
    team: str | None = None
    pipeline_id: uuid.UUID | None = None
    start: dt.date | None = None
    end: dt.date | None = None  # inclusive


class MoneyOut(BaseModel):
    currency: str
    amount: Decimal


class FunnelStageOut(BaseModel):
    stage_id: uuid.UUID
    name: str
    position: int
    kind: str
    count: int
    value: list[MoneyOut]
    reached: int
    conversion_rate: Decimal | None


class FunnelOut(BaseModel):
    pipeline_id: uuid.UUID
    stages: list[FunnelStageOut]


class ForecastRowOut(BaseModel):
    period: str
    currency: str
    count: int
    pipeline: Decimal
    weighted: Decimal
    commit: Decimal
    best_case: Decimal
    closed: Decimal


class ForecastOut(BaseModel):
    period: Period
    as_of: dt.date | None
    rows: list[ForecastRowOut]


class WinLossRowOut(BaseModel):
    key: str
    won: int
    lost: int
    win_rate: Decimal | None


class WinLossOut(BaseModel):
    by_source: list[WinLossRowOut]
    by_lost_reason: list[WinLossRowOut]


class StageDurationOut(BaseModel):
    stage_id: uuid.UUID
    name: str
    samples: int
    average_days: Decimal | None


class StageDurationsOut(BaseModel):
    pipeline_id: uuid.UUID
    stages: list[StageDurationOut]
