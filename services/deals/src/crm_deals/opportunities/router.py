"""REST edge for opportunities, stage moves, snoozes and activities (thin)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Request, status

from crm_deals.opportunities.schemas import (
    ActivityCreate,
    ActivityOut,
    OpportunityCreate,
    OpportunityOut,
    OpportunityPage,
    OpportunityUpdate,
    SnoozeIn,
    SnoozeOut,
    StageHistoryOut,
    StageMove,
    Status,
)
from crm_deals.opportunities.service import OpportunityService

router = APIRouter(prefix="/api/v1", tags=["opportunities"])


def _service(request: Request, session: DbSession) -> OpportunityService:
    return OpportunityService(session, request.app.state.runtime.settings.default_currency)


@router.post("/opportunities", status_code=status.HTTP_201_CREATED, response_model=OpportunityOut)
async def create_opportunity(
    body: OpportunityCreate, request: Request, session: DbSession, user: CurrentUser
) -> OpportunityOut:
    return OpportunityOut.model_validate(await _service(request, session).create(body, user))


@router.get("/opportunities", response_model=OpportunityPage)
async def list_opportunities(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    owner_id: str | None = Query(None, min_length=1, max_length=100, pattern=r"^[^\x00]*$"),
    pipeline_id: uuid.UUID | None = None,
    stage_id: uuid.UUID | None = None,
    status_: Status | None = Query(None, alias="status"),
    organization_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    q: str | None = Query(None, max_length=200, pattern=r"^[^\x00]*$"),
    cursor: str | None = Query(None, max_length=200, pattern=r"^[A-Za-z0-9_=-]*$"),
    limit: int = Query(50, ge=1, le=500),
) -> OpportunityPage:
    rows, next_cursor = await _service(request, session).search(
        user,
        owner_id=owner_id,
        pipeline_id=pipeline_id,
        stage_id=stage_id,
        status=status_,
        organization_id=organization_id,
        contact_id=contact_id,
        q=q,
        cursor=cursor,
        limit=limit,
    )
    return OpportunityPage(items=[OpportunityOut.model_validate(o) for o in rows], next_cursor=next_cursor)


@router.get("/opportunities/{opportunity_id}", response_model=OpportunityOut)
async def get_opportunity(
    opportunity_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> OpportunityOut:
    return OpportunityOut.model_validate(await _service(request, session).get(opportunity_id, user))


@router.patch("/opportunities/{opportunity_id}", response_model=OpportunityOut)
async def update_opportunity(
    opportunity_id: uuid.UUID,
    body: OpportunityUpdate,
    request: Request,
    session: DbSession,
    user: CurrentUser,
) -> OpportunityOut:
    return OpportunityOut.model_validate(await _service(request, session).update(opportunity_id, body, user))


@router.post("/opportunities/{opportunity_id}/stage", response_model=OpportunityOut)
async def move_stage(
    opportunity_id: uuid.UUID, body: StageMove, request: Request, session: DbSession, user: CurrentUser
) -> OpportunityOut:
    return OpportunityOut.model_validate(
        await _service(request, session).move_stage(opportunity_id, body, user)
    )


@router.get("/opportunities/{opportunity_id}/stage-history", response_model=list[StageHistoryOut])
async def stage_history(
    opportunity_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> list[StageHistoryOut]:
    rows = await _service(request, session).history(opportunity_id, user)
    return [StageHistoryOut.model_validate(r) for r in rows]


@router.post(
    "/opportunities/{opportunity_id}/snooze", status_code=status.HTTP_201_CREATED, response_model=SnoozeOut
)
async def snooze(
    opportunity_id: uuid.UUID, body: SnoozeIn, request: Request, session: DbSession, user: CurrentUser
) -> SnoozeOut:
    return SnoozeOut.model_validate(await _service(request, session).snooze(opportunity_id, body, user))


@router.get("/opportunities/{opportunity_id}/snoozes", response_model=list[SnoozeOut])
async def snoozes(
    opportunity_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> list[SnoozeOut]:
    return [
        SnoozeOut.model_validate(s) for s in await _service(request, session).snoozes(opportunity_id, user)
    ]


@router.post(
    "/opportunities/{opportunity_id}/activities",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivityOut,
)
async def add_activity(
    opportunity_id: uuid.UUID, body: ActivityCreate, request: Request, session: DbSession, user: CurrentUser
) -> ActivityOut:
    return ActivityOut.model_validate(
        await _service(request, session).add_activity(opportunity_id, body, user)
    )


@router.get("/opportunities/{opportunity_id}/activities", response_model=list[ActivityOut])
async def list_activities(
    opportunity_id: uuid.UUID,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    limit: int = Query(100, ge=1, le=500),
) -> list[ActivityOut]:
    rows = await _service(request, session).activities(opportunity_id, user, limit)
    return [ActivityOut.model_validate(a) for a in rows]


@router.post("/deal-activities/{activity_id}/complete", response_model=ActivityOut)
async def complete_activity(
    activity_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> ActivityOut:
    return ActivityOut.model_validate(await _service(request, session).complete_activity(activity_id, user))
