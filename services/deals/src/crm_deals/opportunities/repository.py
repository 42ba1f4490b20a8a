"""All SQL on opportunities, their stage history, snoozes and activities."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.opportunities.models import DealActivity, Opportunity, Snooze, StageHistory
from crm_deals.pipelines.models import Stage


class OpportunityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, opportunity: Opportunity) -> Opportunity:
        self.session.add(opportunity)
        await self.session.flush()
        return opportunity

    async def get(self, opportunity_id: uuid.UUID, *, for_update: bool = False) -> Opportunity | None:
        if for_update:
            stmt = (
                select(Opportunity)
                .where(Opportunity.id == opportunity_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            )
            return (await self.session.scalars(stmt)).first()
        return await self.session.get(Opportunity, opportunity_id)

    async def search(
        self,
        visible: ColumnElement[bool],
        *,
        filters: list[ColumnElement[bool]],
        q: str | None,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Opportunity]:
        stmt = select(Opportunity).where(visible, *filters)
        if q:
            stmt = stmt.where(func.lower(Opportunity.name).like(f"%{q.lower()}%"))
        if after is not None:
            stmt = stmt.where(tuple_(Opportunity.created_at, Opportunity.id) < tuple_(*after))
        stmt = stmt.order_by(Opportunity.created_at.desc(), Opportunity.id.desc()).limit(limit)
        return list((await self.session.scalars(stmt)).all())

    async def add_history(self, row: StageHistory) -> None:
        self.session.add(row)

    async def history(self, opportunity_id: uuid.UUID) -> list[StageHistory]:
        stmt = (
            select(StageHistory)
            .where(StageHistory.opportunity_id == opportunity_id)
            .order_by(StageHistory.changed_at, StageHistory.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def add_snooze(self, row: Snooze) -> None:
        self.session.add(row)
        await self.session.flush()

    async def snoozes(self, opportunity_id: uuid.UUID) -> list[Snooze]:
        stmt = select(Snooze).where(Snooze.opportunity_id == opportunity_id).order_by(Snooze.created_at)
        return list((await self.session.scalars(stmt)).all())

    async def claim_stalled(self, now: dt.datetime, limit: int) -> list[tuple[Opportunity, Stage]]:
        """Open opportunities past their stage limit, not snoozed, not yet alerted in this stint; locked
        with SKIP LOCKED so replicas of the job never alert twice."""
        stmt = (
            select(Opportunity, Stage)
            .join(Stage, Stage.id == Opportunity.stage_id)
            .where(
                Opportunity.status == "open",
                Stage.max_days_in_stage > 0,
                Opportunity.stage_entered_at < now - func.make_interval(0, 0, 0, Stage.max_days_in_stage),
                (Opportunity.snoozed_until.is_(None)) | (Opportunity.snoozed_until <= now.date()),
                Opportunity.stalled_alerted_at.is_(None),
            )
            .order_by(Opportunity.stage_entered_at)
            .limit(limit)
            .with_for_update(of=Opportunity, skip_locked=True)
        )
        return [(o, s) for o, s in (await self.session.execute(stmt)).all()]

    async def add_activity(self, activity: DealActivity) -> DealActivity:
        self.session.add(activity)
        await self.session.flush()
        return activity

    async def add_activities_once(self, rows: list[dict[str, object]]) -> dict[str, uuid.UUID]:
        """Insert activities keyed by ``source_ref`` (rows already there are kept); source_ref -> id."""
        if not rows:
            return {}
        stmt = pg_insert(DealActivity).values(rows).on_conflict_do_nothing(index_elements=["source_ref"])
        await self.session.execute(stmt)
        refs = [str(r["source_ref"]) for r in rows]
        found = await self.session.execute(
            select(DealActivity.source_ref, DealActivity.id).where(DealActivity.source_ref.in_(refs))
        )
        return {str(ref): ident for ref, ident in found.all()}

    async def get_activity(self, activity_id: uuid.UUID) -> DealActivity | None:
        return await self.session.get(DealActivity, activity_id)

    async def activities(self, opportunity_id: uuid.UUID, limit: int) -> list[DealActivity]:
        stmt = (
            select(DealActivity)
            .where(DealActivity.opportunity_id == opportunity_id)
            .order_by(DealActivity.created_at.desc(), DealActivity.id.desc())
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())
