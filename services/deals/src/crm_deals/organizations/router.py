"""REST edge for organizations and contacts (thin: convert types, call the service)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Request, status

from crm_deals.organizations.schemas import (
    ContactCreate,
    ContactOut,
    ContactPage,
    ContactUpdate,
    DuplicateOut,
    OrganizationCreate,
    OrganizationOut,
    OrganizationPage,
    OrganizationUpdate,
)
from crm_deals.organizations.service import OrganizationService

router = APIRouter(prefix="/api/v1", tags=["organizations"])

SearchText = Query(None, max_length=200, pattern=r"^[^\x00]*$")
Cursor = Query(None, max_length=200, pattern=r"^[A-Za-z0-9_=-]*$")


def _service(request: Request, session: DbSession) -> OrganizationService:
    return OrganizationService(session, request.app.state.runtime.settings.default_phone_region)


@router.post("/organizations", status_code=status.HTTP_201_CREATED, response_model=OrganizationOut)
async def create_organization(
    body: OrganizationCreate, request: Request, session: DbSession, user: CurrentUser
) -> OrganizationOut:
    organization, duplicates = await _service(request, session).create_organization(body, user)
    out = OrganizationOut.model_validate(organization)
    out.duplicates = duplicates
    return out


@router.get("/organizations", response_model=OrganizationPage)
async def list_organizations(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    q: str | None = SearchText,
    cursor: str | None = Cursor,
    limit: int = Query(50, ge=1, le=500),
) -> OrganizationPage:
    rows, next_cursor = await _service(request, session).search_organizations(
        user, q=q, cursor=cursor, limit=limit
    )
    return OrganizationPage(items=[OrganizationOut.model_validate(o) for o in rows], next_cursor=next_cursor)


@router.get("/organizations/{organization_id}", response_model=OrganizationOut)
async def get_organization(
    organization_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> OrganizationOut:
    organization = await _service(request, session).get_organization(organization_id, user)
    return OrganizationOut.model_validate(organization)


@router.patch("/organizations/{organization_id}", response_model=OrganizationOut)
async def update_organization(
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    request: Request,
    session: DbSession,
    user: CurrentUser,
) -> OrganizationOut:
    organization = await _service(request, session).update_organization(organization_id, body, user)
    return OrganizationOut.model_validate(organization)


@router.get("/organizations/{organization_id}/duplicates", response_model=list[DuplicateOut])
async def organization_duplicates(
    organization_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> list[DuplicateOut]:
    service = _service(request, session)
    return await service.organization_duplicates(await service.get_organization(organization_id, user))


@router.post("/contacts", status_code=status.HTTP_201_CREATED, response_model=ContactOut)
async def create_contact(
    body: ContactCreate, request: Request, session: DbSession, user: CurrentUser
) -> ContactOut:
    contact, duplicates = await _service(request, session).create_contact(body, user)
    out = ContactOut.model_validate(contact)
    out.duplicates = duplicates
    return out


@router.get("/contacts", response_model=ContactPage)
async def list_contacts(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    organization_id: uuid.UUID | None = None,
    q: str | None = SearchText,
    cursor: str | None = Cursor,
    limit: int = Query(50, ge=1, le=500),
) -> ContactPage:
    rows, next_cursor = await _service(request, session).search_contacts(
        user, organization_id=organization_id, q=q, cursor=cursor, limit=limit
    )
    return ContactPage(items=[ContactOut.model_validate(c) for c in rows], next_cursor=next_cursor)


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(
    contact_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> ContactOut:
    return ContactOut.model_validate(await _service(request, session).get_contact(contact_id, user))


@router.patch("/contacts/{contact_id}", response_model=ContactOut)
async def update_contact(
    contact_id: uuid.UUID, body: ContactUpdate, request: Request, session: DbSession, user: CurrentUser
) -> ContactOut:
    return ContactOut.model_validate(await _service(request, session).update_contact(contact_id, body, user))


@router.get("/contacts/{contact_id}/duplicates", response_model=list[DuplicateOut])
async def contact_duplicates(
    contact_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> list[DuplicateOut]:
    service = _service(request, session)
    return await service.contact_duplicates(await service.get_contact(contact_id, user))
