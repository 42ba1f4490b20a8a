"""REST edge for observed events (thin: convert types, call the service)."""

from __future__ import annotations

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query

from crm_notify.notify.schemas import ObservedEventList, ObservedEventOut
from crm_notify.notify.service import MAX_LIST_LIMIT, ObservedEventService

router = APIRouter(prefix="/api/v1/observed-events", tags=["observed-events"])


@router.get("", response_model=ObservedEventList)
async def list_observed_events(
    session: DbSession,
    user: CurrentUser,
    subject: str | None = Query(None, max_length=255),
    limit: int = Query(50, ge=1, le=MAX_LIST_LIMIT),
) -> ObservedEventList:
    found = await ObservedEventService(session).latest(user, subject, limit)
    return ObservedEventList(items=[ObservedEventOut.model_validate(e) for e in found])


@router.get("/{event_id}", response_model=ObservedEventOut)
async def get_observed_event(event_id: str, session: DbSession, user: CurrentUser) -> ObservedEventOut:
    return ObservedEventOut.model_validate(await ObservedEventService(session).get(event_id, user))
