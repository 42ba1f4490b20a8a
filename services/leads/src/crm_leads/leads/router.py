"""REST edge for leads (thin: convert types, call the service)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Request, status

from crm_leads.leads.schemas import LeadBatchCreate, LeadBatchOut, LeadCreate, LeadOut
from crm_leads.leads.service import LeadService

router = APIRouter(prefix="/api/v1/leads", tags=["leads"])


def _service(request: Request, session: DbSession) -> LeadService:
    return LeadService(session, request.app.state.runtime.settings.default_phone_region)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=LeadOut)
async def create_lead(body: LeadCreate, request: Request, session: DbSession, user: CurrentUser) -> LeadOut:
    lead = await _service(request, session).create(body, user)
    return LeadOut.model_validate(lead)


@router.post(":batch", status_code=status.HTTP_201_CREATED, response_model=LeadBatchOut)
async def create_leads(
    body: LeadBatchCreate, request: Request, session: DbSession, user: CurrentUser
) -> LeadBatchOut:
    leads = await _service(request, session).create_many(body.leads, user)
    return LeadBatchOut(leads=[LeadOut.model_validate(x) for x in leads])


@router.get("/{lead_id}", response_model=LeadOut)
async def get_lead(lead_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser) -> LeadOut:
    lead = await _service(request, session).get(lead_id, user)
    return LeadOut.model_validate(lead)
