"""REST edge for leads (thin: convert types, call the service)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Request, status

from crm_leads.leads.schemas import (
    AuditOut,
    CustomFieldDefIn,
    CustomFieldDefOut,
    DuplicateOut,
    LeadBatchCreate,
    LeadBatchOut,
    LeadCreate,
    LeadOut,
    LeadPage,
    LeadUpdate,
    MergeRequest,
    StatusChange,
)
from crm_leads.leads.service import LeadService

router = APIRouter(prefix="/api/v1", tags=["leads"])


def lead_service(request: Request, session: DbSession) -> LeadService:
    return LeadService.of(session, request.app.state.runtime.settings)


@router.post("/leads", status_code=status.HTTP_201_CREATED, response_model=LeadOut)
async def create_lead(body: LeadCreate, request: Request, user: CurrentUser) -> LeadOut:
    return LeadOut.model_validate(await LeadService.create_grouped(request.app.state.runtime, body, user))


@router.post("/leads:batch", status_code=status.HTTP_201_CREATED, response_model=LeadBatchOut)
async def create_leads(
    body: LeadBatchCreate, request: Request, session: DbSession, user: CurrentUser
) -> LeadBatchOut:
    leads = await lead_service(request, session).create_many(body.leads, user)
    return LeadBatchOut(leads=[LeadOut.model_validate(x) for x in leads])


@router.get("/leads", response_model=LeadPage)
async def list_leads(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    status_: str | None = Query(None, alias="status", max_length=40),
    owner_id: str | None = Query(None, max_length=100),
    q: str | None = Query(None, max_length=200),
    include_closed: bool = False,
    cursor: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
) -> LeadPage:
    leads, next_cursor = await lead_service(request, session).search(
        user,
        status=status_,
        owner_id=owner_id,
        q=q,
        include_closed=include_closed,
        cursor=cursor,
        limit=limit,
    )
    return LeadPage(items=[LeadOut.model_validate(x) for x in leads], next_cursor=next_cursor)


@router.get("/leads/{lead_id}", response_model=LeadOut)
async def get_lead(lead_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser) -> LeadOut:
    return LeadOut.model_validate(await lead_service(request, session).get(lead_id, user))


@router.patch("/leads/{lead_id}", response_model=LeadOut)
async def update_lead(
    lead_id: uuid.UUID, body: LeadUpdate, request: Request, session: DbSession, user: CurrentUser
) -> LeadOut:
    return LeadOut.model_validate(await lead_service(request, session).update(lead_id, body, user))


@router.post("/leads/{lead_id}/status", response_model=LeadOut)
async def change_status(
    lead_id: uuid.UUID, body: StatusChange, request: Request, session: DbSession, user: CurrentUser
) -> LeadOut:
    lead = await lead_service(request, session).change_status(lead_id, body.status, user, body.reason)
    return LeadOut.model_validate(lead)


@router.post("/leads/{lead_id}/merge", response_model=LeadOut)
async def merge_leads(
    lead_id: uuid.UUID, body: MergeRequest, request: Request, session: DbSession, user: CurrentUser
) -> LeadOut:
    return LeadOut.model_validate(await lead_service(request, session).merge(lead_id, body.other_id, user))


@router.get("/leads/{lead_id}/duplicates", response_model=list[DuplicateOut])
async def lead_duplicates(
    lead_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> list[DuplicateOut]:
    links = await lead_service(request, session).duplicates(lead_id, user)
    return [
        DuplicateOut(
            lead_id=x.lead_id,
            duplicate_of_id=x.duplicate_of_id,
            matched_on=x.matched_on,
            created_at=x.created_at,
        )
        for x in links
    ]


@router.get("/leads/{lead_id}/audit", response_model=list[AuditOut])
async def lead_audit(
    lead_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> list[AuditOut]:
    return [AuditOut.model_validate(x) for x in await lead_service(request, session).audit(lead_id, user)]


@router.put("/custom-fields/{key}", response_model=CustomFieldDefOut)
async def define_custom_field(
    key: str, body: CustomFieldDefIn, request: Request, session: DbSession, user: CurrentUser
) -> CustomFieldDefOut:
    if body.key != key:
        from crm_platform.errors import ValidationFailed

        raise ValidationFailed({"key": "must match the key in the path"})
    await lead_service(request, session).define_custom_field(body, user)
    return CustomFieldDefOut.model_validate(body.model_dump())


@router.get("/custom-fields", response_model=list[CustomFieldDefOut])
async def list_custom_fields(
    request: Request, session: DbSession, user: CurrentUser
) -> list[CustomFieldDefOut]:
    return [CustomFieldDefOut.model_validate(d) for d in await lead_service(request, session).custom_fields()]
