"""REST edge for follow-up work (thin: convert types, call the service)."""

from __future__ import annotations

import uuid
from typing import Annotated

from crm_platform.db import utcnow
from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Body, Query, Request, Response, status

from crm_leads.activities.schemas import (
    ActivityCreate,
    ActivityOut,
    ActivityPage,
    ActivityUpdate,
    AgendaOut,
    Kind,
    SpeedToLeadOut,
    When,
)
from crm_leads.activities.service import ActivityService

router = APIRouter(prefix="/api/v1", tags=["activities"])


def _service(request: Request, session: DbSession) -> ActivityService:
    settings = request.app.state.runtime.settings
    return ActivityService(session, getattr(settings, "serious_prospect_closed_tasks", 2))


@router.post(
    "/leads/{lead_id}/activities",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivityOut,
    summary="Add a note, task, event, logged call or logged e-mail to a lead",
    responses={409: {"description": "the lead is junk, converted or merged"}},
)
async def create_activity(
    lead_id: uuid.UUID,
    body: Annotated[ActivityCreate, Body()],
    request: Request,
    session: DbSession,
    user: CurrentUser,
) -> ActivityOut:
    activity = await _service(request, session).create(lead_id, body, user)
    return ActivityOut.of(activity, utcnow())


@router.get(
    "/leads/{lead_id}/activities", response_model=ActivityPage, summary="A lead's timeline, newest first"
)
async def list_activities(
    lead_id: uuid.UUID,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    kind: Annotated[list[Kind] | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ActivityPage:
    items, next_cursor = await _service(request, session).timeline(
        lead_id, user, kinds=kind or (), cursor=cursor, limit=limit
    )
    now = utcnow()
    return ActivityPage(items=[ActivityOut.of(a, now) for a in items], next_cursor=next_cursor)


@router.get(
    "/leads/{lead_id}/speed-to-lead",
    response_model=SpeedToLeadOut,
    summary="Time from intake to the owner's first logged call, e-mail or note",
)
async def speed_to_lead(
    lead_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> SpeedToLeadOut:
    return await _service(request, session).speed_to_lead(lead_id, user)


@router.get("/activities/{activity_id}", response_model=ActivityOut)
async def get_activity(
    activity_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> ActivityOut:
    return ActivityOut.of(await _service(request, session).get(activity_id, user), utcnow())


@router.patch("/activities/{activity_id}", response_model=ActivityOut)
async def update_activity(
    activity_id: uuid.UUID, body: ActivityUpdate, request: Request, session: DbSession, user: CurrentUser
) -> ActivityOut:
    return ActivityOut.of(await _service(request, session).update(activity_id, body, user), utcnow())


@router.post(
    "/activities/{activity_id}:complete",
    response_model=ActivityOut,
    summary="Mark a task or event done (idempotent); drives the status automation",
)
async def complete_activity(
    activity_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> ActivityOut:
    return ActivityOut.of(await _service(request, session).complete(activity_id, user), utcnow())


@router.delete("/activities/{activity_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_activity(
    activity_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> Response:
    await _service(request, session).delete(activity_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/agenda", response_model=AgendaOut, summary="A rep's overdue and upcoming tasks and events")
async def agenda(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    owner_id: Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")] = None,
    due_from: Annotated[When | None, Query(alias="from")] = None,
    due_to: Annotated[When | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> AgendaOut:
    return await _service(request, session).agenda(
        user, owner_id=owner_id, due_from=due_from, due_to=due_to, limit=limit
    )
