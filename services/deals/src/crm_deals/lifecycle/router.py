"""REST edge of the customer lifecycle (thin): a customer's buyer status and paid invoices."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter

from crm_deals.lifecycle.schemas import LifecycleOut
from crm_deals.lifecycle.service import LifecycleService

router = APIRouter(prefix="/api/v1", tags=["lifecycle"])


@router.get("/organizations/{organization_id}/lifecycle", response_model=LifecycleOut)
async def organization_lifecycle(
    organization_id: uuid.UUID, session: DbSession, user: CurrentUser
) -> LifecycleOut:
    return await LifecycleService(session).lifecycle("organization", organization_id, user)


@router.get("/contacts/{contact_id}/lifecycle", response_model=LifecycleOut)
async def contact_lifecycle(contact_id: uuid.UUID, session: DbSession, user: CurrentUser) -> LifecycleOut:
    return await LifecycleService(session).lifecycle("contact", contact_id, user)
