"""REST edge for the phone index (thin: convert types, call the service)."""

from __future__ import annotations

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Request

from crm_telephony.phonebook.schemas import PhoneLookupOut, PhoneRecordOut
from crm_telephony.phonebook.service import PhoneIndexService

router = APIRouter(prefix="/api/v1/phone-index", tags=["phone-index"])


@router.get("/{phone}", response_model=PhoneLookupOut)
async def lookup_phone(
    phone: str,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    region: str | None = Query(None, min_length=2, max_length=2, description="e.g. IR, IL, HU"),
) -> PhoneLookupOut:
    service = PhoneIndexService(session, request.app.state.runtime.settings.default_phone_region)
    found = await service.lookup(phone, region)
    return PhoneLookupOut(
        e164=found.e164,
        records=[
            PhoneRecordOut(
                service=e.record_service,
                record_type=e.record_type,
                id=e.record_id,
                display_name=e.display_name,
                owner_id=e.owner_id,
            )
            for e in found.entries
        ],
    )
