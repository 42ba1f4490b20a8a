"""Reports: funnel, weighted forecast per month/quarter (live or as stored on a past day), win/loss by
source and lost reason, average time in stage; the daily forecast snapshot. Role rules narrow every
report: reps see their own opportunities, managers their team's, admins all."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import ROUND_HALF_UP, Decimal

from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import Forbidden, ValidationFailed
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.pipelines.service import PipelineService
from crm_deals.reports.exceptions import SnapshotNotFound
from crm_deals.reports.repository import ReportRepository, as_decimal
from crm_deals.reports.schemas import (
    ForecastOut,
    ForecastRowOut,
    FunnelOut,
    FunnelStageOut,
    MoneyOut,
    Period,
    Scope,
    StageDurationOut,
    StageDurationsOut,
    WinLossOut,
    WinLossRowOut,
)

CENT = Decimal("0.01")
RATE = Decimal("0.0001")


def _rate(numerator: int, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE, ROUND_HALF_UP)


def _units(value: object, per_unit: int) -> Decimal:
    """An integer sum in cents (100) or ten-thousandths (10000) as a 2-decimal amount."""
    return (as_decimal(value) / per_unit).quantize(CENT, ROUND_HALF_UP)


def period_label(start: dt.date, period: Period) -> str:
    if period == "quarter":
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    return f"{start.year}-{start.month:02d}"


def scope_for(
    who: Principal,
    *,
    owner_id: str | None = None,
    team: str | None = None,
    pipeline_id: uuid.UUID | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> Scope:
    """The filters a caller may use: reps only their own, managers only their team."""
    if start is not None and end is not None and end < start:
        raise ValidationFailed({"period_end": "must not be before period_start"})
    if not who.is_admin:
        if who.is_manager and who.team:
            if team is not None and team != who.team:
                raise Forbidden("managers see their own team's reports")
            team = who.team
        else:
            if owner_id is not None and owner_id != who.subject:
                raise Forbidden("reps see their own reports")
            owner_id = who.subject
    return Scope(owner_id=owner_id, team=team, pipeline_id=pipeline_id, start=start, end=end)


class ReportService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = ReportRepository(session)
        self.pipelines = PipelineService(session)

    async def funnel(self, scope: Scope) -> FunnelOut:
        pipeline = await self.pipelines.resolve(scope.pipeline_id)
        scope = Scope(scope.owner_id, scope.team, pipeline.id, scope.start, scope.end)
        counts: dict[uuid.UUID, int] = {}
        cents: dict[uuid.UUID, dict[str, int]] = {}
        furthest: dict[int, int] = {}
        for row in await self.repo.funnel(scope):
            counts[row.stage_id] = counts.get(row.stage_id, 0) + int(row.n)
            per_currency = cents.setdefault(row.stage_id, {})
            per_currency[row.currency] = per_currency.get(row.currency, 0) + int(row.cents)
            furthest[int(row.furthest_position)] = furthest.get(int(row.furthest_position), 0) + int(row.n)
        values = {
            stage_id: [MoneyOut(currency=c, amount=_units(v, 100)) for c, v in sorted(per.items())]
            for stage_id, per in cents.items()
        }
        stages: list[FunnelStageOut] = []
        previous: int | None = None
        for stage in pipeline.stages:
            if stage.kind == "lost":
                reached = counts.get(stage.id, 0)
                rate = None
            else:
                reached = sum(n for position, n in furthest.items() if position >= stage.position)
                rate = _rate(reached, previous) if previous is not None else None
                previous = reached
            stages.append(
                FunnelStageOut(
                    stage_id=stage.id,
                    name=stage.name,
                    position=stage.position,
                    kind=stage.kind,
                    count=counts.get(stage.id, 0),
                    value=sorted(values.get(stage.id, []), key=lambda m: m.currency),
                    reached=reached,
                    conversion_rate=rate,
                )
            )
        return FunnelOut(pipeline_id=pipeline.id, stages=stages)

    async def forecast(self, scope: Scope, period: Period, as_of: dt.date | None = None) -> ForecastOut:
        if period not in ("month", "quarter"):
            raise ValidationFailed({"period": "must be month or quarter"})
        if as_of is not None:
            if not await self.repo.has_snapshot(as_of):
                raise SnapshotNotFound(f"no forecast was stored on {as_of.isoformat()}")
            rows = await self.repo.forecast_snapshot(scope, as_of)
        else:
            rows = await self.repo.forecast(scope)
        # months -> periods; sums stay integers (cents, weighted x 10^4) until the end
        totals: dict[tuple[str, str], list[Decimal]] = {}
        for r in rows:
            key = (period_label(r.period, period), r.currency)
            acc = totals.setdefault(key, [Decimal(0)] * 6)
            for i, value in enumerate((r.count, r.pipeline, r.weighted, r.commit, r.best_case, r.closed)):
                acc[i] += as_decimal(value)
        return ForecastOut(
            period=period,
            as_of=as_of,
            rows=[
                ForecastRowOut(
                    period=label,
                    currency=currency,
                    count=int(acc[0]),
                    pipeline=_units(acc[1], 100),
                    weighted=_units(acc[2], 10000),
                    commit=_units(acc[3], 100),
                    best_case=_units(acc[4], 100),
                    closed=_units(acc[5], 100),
                )
                for (label, currency), acc in sorted(totals.items())
            ],
        )

    async def win_loss(self, scope: Scope) -> WinLossOut:
        by_source, by_reason = await self.repo.win_loss(scope)
        return WinLossOut(
            by_source=[
                WinLossRowOut(
                    key=r.key, won=int(r.won), lost=int(r.lost), win_rate=_rate(r.won, r.won + r.lost)
                )
                for r in by_source
            ],
            by_lost_reason=[
                WinLossRowOut(key=r.key, won=0, lost=int(r.lost), win_rate=None) for r in by_reason
            ],
        )

    async def stage_durations(self, scope: Scope) -> StageDurationsOut:
        pipeline = await self.pipelines.resolve(scope.pipeline_id)
        scope = Scope(scope.owner_id, scope.team, pipeline.id, scope.start, scope.end)
        rows = {r.stage_id: r for r in await self.repo.stage_durations(scope)}
        out = []
        for stage in pipeline.stages:
            if stage.kind != "open":
                continue
            row = rows.get(stage.id)
            days = None
            if row is not None and row.seconds is not None:
                days = (as_decimal(row.seconds) / Decimal(86400)).quantize(CENT, ROUND_HALF_UP)
            out.append(
                StageDurationOut(
                    stage_id=stage.id,
                    name=stage.name,
                    samples=int(row.samples) if row is not None else 0,
                    average_days=days,
                )
            )
        return StageDurationsOut(pipeline_id=pipeline.id, stages=out)

    async def take_snapshot(self, day: dt.date | None = None) -> int:
        """Store the day's forecast (from the forecast rollup) and prune rollup rows that fell to zero."""
        stored = await self.repo.write_snapshot(day or utcnow().date())
        await self.repo.prune_rollups()
        return stored
