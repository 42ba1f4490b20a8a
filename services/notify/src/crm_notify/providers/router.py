"""REST edge for provider configuration (admins)."""

from __future__ import annotations

import uuid
from typing import Literal

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Response, status

from crm_notify.providers.schemas import ProviderIn, ProviderOut
from crm_notify.providers.service import ProviderService

router = APIRouter(prefix="/api/v1/providers", tags=["providers"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProviderOut)
async def create_provider(body: ProviderIn, session: DbSession, user: CurrentUser) -> ProviderOut:
    return ProviderOut.redacted(await ProviderService(session).create(body, user))


@router.get("", response_model=list[ProviderOut])
async def list_providers(
    session: DbSession, user: CurrentUser, channel: Literal["email", "sms", "fax"] | None = Query(None)
) -> list[ProviderOut]:
    return [ProviderOut.redacted(p) for p in await ProviderService(session).search(user, channel)]


@router.get("/{provider_id}", response_model=ProviderOut)
async def get_provider(provider_id: uuid.UUID, session: DbSession, user: CurrentUser) -> ProviderOut:
    return ProviderOut.redacted(await ProviderService(session).get(provider_id, user))


@router.put("/{provider_id}", response_model=ProviderOut)
async def replace_provider(
    provider_id: uuid.UUID, body: ProviderIn, session: DbSession, user: CurrentUser
) -> ProviderOut:
    return ProviderOut.redacted(await ProviderService(session).replace(provider_id, body, user))


@router.delete("/{provider_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_provider(provider_id: uuid.UUID, session: DbSession, user: CurrentUser) -> Response:
    await ProviderService(session).delete(provider_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
