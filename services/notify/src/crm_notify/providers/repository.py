"""All SQL on provider configurations."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.providers.models import Provider


class ProviderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, provider: Provider) -> Provider:
        self.session.add(provider)
        await self.session.flush()
        return provider

    async def get(self, provider_id: uuid.UUID) -> Provider | None:
        return await self.session.get(Provider, provider_id)

    async def by_name(self, name: str) -> Provider | None:
        return await self.session.scalar(select(Provider).where(Provider.name == name))

    async def search(self, channel: str | None = None, kind: str | None = None) -> list[Provider]:
        stmt = select(Provider).order_by(Provider.channel, Provider.priority, Provider.name)
        if channel:
            stmt = stmt.where(Provider.channel == channel)
        if kind:
            stmt = stmt.where(Provider.kind == kind)
        return list((await self.session.scalars(stmt)).all())

    async def for_channel(self, channel: str) -> list[Provider]:
        """Enabled providers of a channel, primary first, then the fallbacks."""
        stmt = (
            select(Provider)
            .where(Provider.channel == channel, Provider.enabled.is_(True))
            .order_by(Provider.priority, Provider.name)
        )
        return list((await self.session.scalars(stmt)).all())

    async def delete(self, provider: Provider) -> None:
        await self.session.delete(provider)
        await self.session.flush()
