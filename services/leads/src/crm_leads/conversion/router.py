"""REST edge of lead conversion (thin). No ``DbSession`` here on purpose: the conversion spans a remote
call, so the coordinator opens its own short transactions around it."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser
from fastapi import APIRouter, Request, status

from crm_leads.conversion.schemas import ConversionOptions, ConversionOut, PreviewOut
from crm_leads.conversion.service import ConversionCoordinator

router = APIRouter(prefix="/api/v1", tags=["conversion"])

ERRORS: dict[int | str, dict[str, str]] = {
    409: {"description": "the lead is converted, being converted, merged or junk"},
    422: {"description": "invalid options, or deals refused the conversion (the lead is untouched)"},
    503: {"description": "deals is unavailable: the conversion stays pending and is retried"},
}


def coordinator(request: Request) -> ConversionCoordinator:
    runtime = request.app.state.runtime
    return ConversionCoordinator(runtime.unit_of_work, runtime.settings)


@router.post("/leads/{lead_id}/conversion:preview", response_model=PreviewOut, responses=ERRORS)
async def preview_conversion(
    lead_id: uuid.UUID, request: Request, user: CurrentUser, body: ConversionOptions | None = None
) -> PreviewOut:
    """Which organization and contact converting the lead would reuse (matched by e-mail domain, company,
    e-mail or phone) or create, and the opportunity it would open. Nothing is written."""
    return await coordinator(request).preview(lead_id, body or ConversionOptions(), user)


@router.post(
    "/leads/{lead_id}/conversion",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversionOut,
    responses=ERRORS,
)
async def convert_lead(
    lead_id: uuid.UUID, request: Request, user: CurrentUser, body: ConversionOptions | None = None
) -> ConversionOut:
    """Convert the lead into organization + contact + opportunity in deals, move its activities and mark
    it converted (kept for reporting). Converting a converted lead is refused (409)."""
    return await coordinator(request).convert(lead_id, body or ConversionOptions(), user)


@router.get("/leads/{lead_id}/conversion", response_model=ConversionOut)
async def get_conversion(lead_id: uuid.UUID, request: Request, user: CurrentUser) -> ConversionOut:
    return await coordinator(request).get(lead_id, user)
