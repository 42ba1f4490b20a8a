from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.leads.models import Lead


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, lead: Lead) -> Lead:
        self.session.add(lead)
        await self.session.flush()
        return lead

    async def add_all(self, leads: list[Lead]) -> list[Lead]:
        self.session.add_all(leads)
        await self.session.flush()
        return leads

    async def get(self, lead_id: uuid.UUID) -> Lead | None:
        return await self.session.get(Lead, lead_id)

    async def set_score(self, lead_id: uuid.UUID, score: int) -> None:
        await self.session.execute(update(Lead).where(Lead.id == lead_id).values(score=score))

    async def unscored_ids(self, limit: int) -> list[uuid.UUID]:
        stmt = select(Lead.id).where(Lead.score.is_(None)).order_by(Lead.created_at).limit(limit)
        return list((await self.session.scalars(stmt)).all())
