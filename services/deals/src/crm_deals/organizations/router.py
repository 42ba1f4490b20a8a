"""REST edge for organizations and contacts (thin: convert types, call the service)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Request, status

from crm_deals.organizations.schemas import ContactCreate, ContactOut, OrganizationCreate, OrganizationOut
from crm_deals.organizations.service import OrganizationService

router = APIRouter(prefix="/api/v1", tags=["organizations"])


def _service(request: Request, session: DbSession) -> OrganizationService:
    return OrganizationService(session, request.app.state.runtime.settings.default_phone_region)


@router.post("/organizations", status_code=status.HTTP_201_CREATED, response_model=OrganizationOut)
async def create_organization(
    body: OrganizationCreate, request: Request, session: DbSession, user: CurrentUser
) -> OrganizationOut:
    organization = await _service(request, session).create_organization(body, user)
    return OrganizationOut.model_validate(organization)


@router.get("/organizations/{organization_id}", response_model=OrganizationOut)
async def get_organization(
    organization_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> OrganizationOut:
    organization = await _service(request, session).get_organization(organization_id, user)
    return OrganizationOut.model_validate(organization)


@router.post("/contacts", status_code=status.HTTP_201_CREATED, response_model=ContactOut)
async def create_contact(
    body: ContactCreate, request: Request, session: DbSession, user: CurrentUser
) -> ContactOut:
    return ContactOut.model_validate(await _service(request, session).create_contact(body, user))


@router.get("/contacts/{contact_id}", response_model=ContactOut)
async def get_contact(
    contact_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> ContactOut:
    return ContactOut.model_validate(await _service(request, session).get_contact(contact_id, user))
