"""REST edge for the recipient directory (user contacts; read-only lead projection)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Path, Query, Request, Response, status

from crm_notify.directory.schemas import LeadContactOut, UserContactIn, UserContactOut
from crm_notify.directory.service import DirectoryService

router = APIRouter(prefix="/api/v1/directory", tags=["directory"])
UserId = Path(..., min_length=1, max_length=100)


@router.put("/users/{user_id}", response_model=UserContactOut)
async def put_user(
    body: UserContactIn, request: Request, session: DbSession, user: CurrentUser, user_id: str = UserId
) -> UserContactOut:
    region = request.app.state.runtime.settings.default_phone_region
    return UserContactOut.model_validate(
        await DirectoryService(session).put_user(user_id, body, user, region)
    )


@router.get("/users", response_model=list[UserContactOut])
async def list_users(
    session: DbSession, user: CurrentUser, limit: int = Query(100, ge=1, le=1000)
) -> list[UserContactOut]:
    return [UserContactOut.model_validate(u) for u in await DirectoryService(session).users(user, limit)]


@router.get("/users/{user_id}", response_model=UserContactOut)
async def get_user(session: DbSession, user: CurrentUser, user_id: str = UserId) -> UserContactOut:
    return UserContactOut.model_validate(await DirectoryService(session).get_user(user_id, user))


@router.delete("/users/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(session: DbSession, user: CurrentUser, user_id: str = UserId) -> Response:
    await DirectoryService(session).delete_user(user_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/leads/{lead_id}", response_model=LeadContactOut)
async def get_lead(lead_id: uuid.UUID, session: DbSession, user: CurrentUser) -> LeadContactOut:
    return LeadContactOut.model_validate(await DirectoryService(session).get_lead(lead_id, user))
