"""All SQL of lead conversion: the conversion row, the lead's activities it sends to deals, and the
activities it marks as moved."""

from __future__ import annotations

import datetime as dt
import uuid

from crm_platform.db import utcnow
from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.activities.models import Activity
from crm_leads.conversion.models import LeadConversion, MovedActivity
from crm_leads.leads.models import Lead


class ConversionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_lead(self, lead_id: uuid.UUID) -> Lead | None:
        """Row-lock the lead: conversions (and every other change) of one lead are serialised on it."""
        stmt = (
            select(Lead).where(Lead.id == lead_id).with_for_update().execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).first()

    async def get_lead(self, lead_id: uuid.UUID) -> Lead | None:
        return await self.session.get(Lead, lead_id)

    async def by_lead(self, lead_id: uuid.UUID, *, for_update: bool = False) -> LeadConversion | None:
        stmt = select(LeadConversion).where(LeadConversion.lead_id == lead_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt.execution_options(populate_existing=True))).first()

    async def get(self, conversion_id: uuid.UUID, *, for_update: bool = False) -> LeadConversion | None:
        stmt = select(LeadConversion).where(LeadConversion.id == conversion_id)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt.execution_options(populate_existing=True))).first()

    async def add(self, conversion: LeadConversion) -> LeadConversion:
        self.session.add(conversion)
        await self.session.flush()
        return conversion

    async def activities(self, lead_id: uuid.UUID) -> list[Activity]:
        stmt = select(Activity).where(Activity.lead_id == lead_id).order_by(Activity.created_at, Activity.id)
        return list((await self.session.scalars(stmt)).all())

    async def activity_count(self, lead_id: uuid.UUID) -> int:
        return int(await self.session.scalar(select(func.count()).where(Activity.lead_id == lead_id)) or 0)

    async def mark_moved(self, conversion_id: uuid.UUID, moved: dict[uuid.UUID, uuid.UUID]) -> None:
        if not moved:
            return
        now = utcnow()
        rows = [
            {"conversion_id": conversion_id, "activity_id": a, "deals_activity_id": d, "moved_at": now}
            for a, d in moved.items()
        ]
        await self.session.execute(pg_insert(MovedActivity).values(rows).on_conflict_do_nothing())

    async def moved(self, conversion_id: uuid.UUID) -> list[MovedActivity]:
        stmt = (
            select(MovedActivity)
            .where(MovedActivity.conversion_id == conversion_id)
            .order_by(MovedActivity.moved_at, MovedActivity.activity_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def resumable(self, now: dt.datetime, limit: int) -> list[uuid.UUID]:
        """Pending conversions whose last attempt ended without an answer from deals (or died)."""
        stmt = (
            select(LeadConversion.id)
            .where(
                LeadConversion.state == "pending",
                or_(LeadConversion.in_flight_until.is_(None), LeadConversion.in_flight_until < now),
            )
            .order_by(LeadConversion.updated_at)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())
