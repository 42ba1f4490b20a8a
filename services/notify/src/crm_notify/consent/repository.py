"""All SQL on contact-point preferences and consents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.consent.models import Consent, ContactPoint


class ConsentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def contact_point(self, channel: str, address: str) -> ContactPoint | None:
        return await self.session.scalar(
            select(ContactPoint).where(ContactPoint.channel == channel, ContactPoint.address == address)
        )

    async def contact_points_for(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], ContactPoint]:
        """(channel, address) -> contact point, for many keys in one query."""
        if not keys:
            return {}
        stmt = select(ContactPoint).where(
            tuple_(ContactPoint.channel, ContactPoint.address).in_(sorted(set(keys)))
        )
        return {(p.channel, p.address): p for p in (await self.session.scalars(stmt)).all()}

    async def consents_for(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], Consent]:
        """(channel, address, purpose) -> consent, for many keys in one query."""
        if not keys:
            return {}
        stmt = select(Consent).where(
            tuple_(Consent.channel, Consent.address, Consent.purpose).in_(sorted(set(keys)))
        )
        return {(c.channel, c.address, c.purpose): c for c in (await self.session.scalars(stmt)).all()}

    async def upsert_contact_point(self, values: dict[str, Any]) -> ContactPoint:
        stmt = insert(ContactPoint).values(**values)
        upsert = stmt.on_conflict_do_update(
            constraint="uq_contact_point_channel_address",
            set_={k: stmt.excluded[k] for k in ("timezone", "quiet_start", "quiet_end", "updated_at")},
        ).returning(ContactPoint)
        result = await self.session.scalars(upsert, execution_options={"populate_existing": True})
        return result.one()

    async def consents(self, channel: str, address: str) -> list[Consent]:
        stmt = (
            select(Consent)
            .where(Consent.channel == channel, Consent.address == address)
            .order_by(Consent.purpose)
        )
        return list((await self.session.scalars(stmt)).all())

    async def consent(
        self, channel: str, address: str, purpose: str, *, for_update: bool = False
    ) -> Consent | None:
        stmt = select(Consent).where(
            Consent.channel == channel, Consent.address == address, Consent.purpose == purpose
        )
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def upsert_consent(self, values: dict[str, Any]) -> Consent:
        stmt = insert(Consent).values(**values)
        upsert = stmt.on_conflict_do_update(
            constraint="uq_consent_channel_address_purpose",
            set_={
                k: stmt.excluded[k]
                for k in values
                if k not in ("id", "channel", "address", "purpose", "created_at")
            },
        ).returning(Consent)
        result = await self.session.scalars(upsert, execution_options={"populate_existing": True})
        return result.one()

    async def by_token_hash(self, token_hash: str) -> Consent | None:
        stmt = select(Consent).where(Consent.confirm_token_hash == token_hash).with_for_update()
        return await self.session.scalar(stmt)
