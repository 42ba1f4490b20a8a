"""All SQL on lead conversions (deals side)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.conversion.models import LeadConversion


class ConversionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, conversion_id: uuid.UUID) -> LeadConversion | None:
        stmt = (
            select(LeadConversion)
            .where(LeadConversion.conversion_id == conversion_id)
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).first()

    async def get_by_lead(self, lead_id: uuid.UUID) -> LeadConversion | None:
        stmt = select(LeadConversion).where(LeadConversion.lead_id == lead_id)
        return (await self.session.scalars(stmt)).first()

    async def claim(self, conversion_id: uuid.UUID, lead_id: uuid.UUID, actor_id: str) -> bool:
        """Insert the conversion row first: a concurrent call with the same id (or for the same lead)
        waits on the unique index until this transaction ends, then finds the stored result."""
        stmt = (
            pg_insert(LeadConversion)
            .values(conversion_id=conversion_id, lead_id=lead_id, actor_id=actor_id, moved_activities=[])
            .on_conflict_do_nothing()
            .returning(LeadConversion.conversion_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def lock_keys(self, keys: Iterable[str]) -> None:
        """Transaction-scoped advisory locks on matching keys (team + domain / company / e-mail / phone),
        taken in a fixed order, so two conversions of look-alike leads cannot both create the record."""
        for key in sorted(set(keys)):
            await self.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))
