"""REST edge for reports (thin): filters come as query parameters, the role narrows them."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query

from crm_deals.fields import Day
from crm_deals.reports.schemas import ForecastOut, FunnelOut, Period, StageDurationsOut, WinLossOut
from crm_deals.reports.service import ReportService, scope_for

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

OwnerQ = Query(None, min_length=1, max_length=100, pattern=r"^[^\x00]*$")
TeamQ = Query(None, min_length=1, max_length=100, pattern=r"^[^\x00]*$")


@router.get("/funnel", response_model=FunnelOut)
async def funnel(
    session: DbSession,
    user: CurrentUser,
    pipeline_id: uuid.UUID | None = None,
    owner_id: str | None = OwnerQ,
    team: str | None = TeamQ,
    period_start: Day | None = Query(None, description="opportunities created from this day"),
    period_end: Day | None = Query(None, description="... to this day, inclusive"),
) -> FunnelOut:
    scope = scope_for(
        user, owner_id=owner_id, team=team, pipeline_id=pipeline_id, start=period_start, end=period_end
    )
    return await ReportService(session).funnel(scope)


@router.get("/forecast", response_model=ForecastOut)
async def forecast(
    session: DbSession,
    user: CurrentUser,
    period: Period = "month",
    pipeline_id: uuid.UUID | None = None,
    owner_id: str | None = OwnerQ,
    team: str | None = TeamQ,
    period_start: Day | None = Query(None, description="expected close from this day"),
    period_end: Day | None = Query(None, description="... to this day, inclusive"),
    as_of: Day | None = Query(None, description="the forecast as stored on this day (daily snapshot)"),
) -> ForecastOut:
    scope = scope_for(
        user, owner_id=owner_id, team=team, pipeline_id=pipeline_id, start=period_start, end=period_end
    )
    return await ReportService(session).forecast(scope, period, as_of)


@router.get("/win-loss", response_model=WinLossOut)
async def win_loss(
    session: DbSession,
    user: CurrentUser,
    pipeline_id: uuid.UUID | None = None,
    owner_id: str | None = OwnerQ,
    team: str | None = TeamQ,
    period_start: Day | None = Query(None, description="closed from this day"),
    period_end: Day | None = Query(None, description="... to this day, inclusive"),
) -> WinLossOut:
    scope = scope_for(
        user, owner_id=owner_id, team=team, pipeline_id=pipeline_id, start=period_start, end=period_end
    )
    return await ReportService(session).win_loss(scope)


@router.get("/stage-durations", response_model=StageDurationsOut)
async def stage_durations(
    session: DbSession,
    user: CurrentUser,
    pipeline_id: uuid.UUID | None = None,
    owner_id: str | None = OwnerQ,
    team: str | None = TeamQ,
    period_start: Day | None = Query(None, description="stage stints that ended from this day"),
    period_end: Day | None = Query(None, description="... to this day, inclusive"),
) -> StageDurationsOut:
    scope = scope_for(
        user, owner_id=owner_id, team=team, pipeline_id=pipeline_id, start=period_start, end=period_end
    )
    return await ReportService(session).stage_durations(scope)
