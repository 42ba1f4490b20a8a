"""Provider configuration per channel (primary + fallbacks by priority). Admins only. Flushes, never commits."""  # noqa: E501

from __future__ import annotations

import uuid

from crm_platform.auth import Principal
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.providers.exceptions import ProviderNameTaken, ProviderNotFound
from crm_notify.providers.models import KINDS, Provider
from crm_notify.providers.repository import ProviderRepository
from crm_notify.providers.schemas import SECRET_KEYS, ProviderIn

REQUIRED_CONFIG = {
    "smtp": ("host", "port", "from_address"),
    "smpp": ("host", "port", "system_id"),
    "http_sms": ("url",),
    "http_fax": ("url",),
    "hylafax": ("host",),
}


def _check_config(data: ProviderIn) -> None:
    missing = [k for k in REQUIRED_CONFIG[data.kind] if data.config.get(k) in (None, "")]
    if missing:
        raise ValidationFailed({f"config.{k}": "is required for this kind" for k in missing})


class ProviderService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = ProviderRepository(session)

    async def create(self, data: ProviderIn, who: Principal) -> Provider:
        who.require("admin")
        _check_config(data)
        if await self.repo.by_name(data.name) is not None:
            raise ProviderNameTaken(f"a provider named {data.name!r} exists")
        provider = Provider(id=new_id(), channel=KINDS[data.kind], **data.model_dump())
        return await self.repo.add(provider)

    async def get(self, provider_id: uuid.UUID, who: Principal) -> Provider:
        who.require("admin")
        provider = await self.repo.get(provider_id)
        if provider is None:
            raise ProviderNotFound(f"provider {provider_id} does not exist")
        return provider

    async def search(self, who: Principal, channel: str | None = None) -> list[Provider]:
        who.require("admin")
        return await self.repo.search(channel)

    async def replace(self, provider_id: uuid.UUID, data: ProviderIn, who: Principal) -> Provider:
        provider = await self.get(provider_id, who)
        _check_config(data)
        other = await self.repo.by_name(data.name)
        if other is not None and other.id != provider.id:
            raise ProviderNameTaken(f"a provider named {data.name!r} exists")
        config = dict(data.config)
        for key in SECRET_KEYS:  # "***" (as returned by GET) keeps the stored secret
            if config.get(key) == "***":
                config[key] = provider.config.get(key)
        provider.name, provider.kind, provider.channel = data.name, data.kind, KINDS[data.kind]
        provider.priority, provider.enabled = data.priority, data.enabled
        provider.config, provider.rate_per_second = config, data.rate_per_second
        await self.session.flush()
        return provider

    async def delete(self, provider_id: uuid.UUID, who: Principal) -> None:
        await self.repo.delete(await self.get(provider_id, who))
