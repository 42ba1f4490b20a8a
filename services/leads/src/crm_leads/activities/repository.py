"""All SQL on activities (and the few lead columns the activities domain locks or reads)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from crm_platform.db import insert_objects
from sqlalchemy import ColumnElement, and_, delete, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.activities.models import Activity
from crm_leads.leads.models import Lead

SCHEDULED_KINDS = ("task", "event")


class ActivityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_all(self, activities: Sequence[Activity]) -> None:
        await insert_objects(self.session, activities)

    async def add(self, activity: Activity) -> Activity:
        self.session.add(activity)
        await self.session.flush()
        return activity

    async def get(self, activity_id: uuid.UUID, *, refresh: bool = False) -> Activity | None:
        """``refresh`` re-reads the row even when the session already holds it (after taking a lock)."""
        if refresh:
            stmt = (
                select(Activity).where(Activity.id == activity_id).execution_options(populate_existing=True)
            )
            return (await self.session.scalars(stmt)).first()
        return await self.session.get(Activity, activity_id)

    async def delete(self, activity: Activity) -> None:
        await self.session.execute(delete(Activity).where(Activity.id == activity.id))
        self.session.expunge(activity)

    async def lock_lead(self, lead_id: uuid.UUID) -> Lead | None:
        """Row-lock the lead and refresh it from the database (pending changes are flushed first), so
        status moves, first touch and task counting are serialised per lead."""
        await self.session.flush()
        stmt = (
            select(Lead).where(Lead.id == lead_id).with_for_update().execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).first()

    async def get_lead(self, lead_id: uuid.UUID) -> Lead | None:
        return await self.session.get(Lead, lead_id)

    async def timeline(
        self,
        lead_id: uuid.UUID,
        *,
        kinds: Sequence[str] = (),
        after: tuple[dt.datetime, uuid.UUID] | None = None,
        limit: int = 50,
    ) -> list[Activity]:
        """Newest first; ``after`` is the (created_at, id) of the last row of the previous page."""
        stmt = select(Activity).where(Activity.lead_id == lead_id)
        if kinds:
            stmt = stmt.where(Activity.kind.in_(kinds))
        if after is not None:
            stmt = stmt.where(tuple_(Activity.created_at, Activity.id) < tuple_(*after))
        stmt = stmt.order_by(Activity.created_at.desc(), Activity.id.desc()).limit(limit)
        return list((await self.session.scalars(stmt)).all())

    async def open_first_followups(self, lead_id: uuid.UUID) -> list[Activity]:
        stmt = (
            select(Activity)
            .where(
                Activity.lead_id == lead_id,
                Activity.is_first_followup.is_(True),
                Activity.done_at.is_(None),
            )
            .order_by(Activity.created_at)
        )
        return list((await self.session.scalars(stmt)).all())

    async def reassign_open(
        self, lead_id: uuid.UUID, new_owner: str, previous_owner: str | None, now: dt.datetime
    ) -> list[uuid.UUID]:
        """Open first follow-ups (and, when ``previous_owner`` is given, that owner's other open tasks
        and events) of the lead move to ``new_owner``; returns the ids moved."""
        which: ColumnElement[bool] = Activity.is_first_followup.is_(True)
        if previous_owner:
            which = or_(which, Activity.owner_id == previous_owner)
        stmt = (
            update(Activity)
            .where(
                Activity.lead_id == lead_id,
                Activity.kind.in_(SCHEDULED_KINDS),
                Activity.done_at.is_(None),
                Activity.owner_id.is_distinct_from(new_owner),
                which,
            )
            .values(owner_id=new_owner, updated_at=now)
            .returning(Activity.id)
            .execution_options(synchronize_session="fetch")
        )
        return list((await self.session.scalars(stmt)).all())

    async def closed_task_count(self, lead_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            Activity.lead_id == lead_id,
            Activity.kind.in_(SCHEDULED_KINDS),
            Activity.done_at.is_not(None),
        )
        return int(await self.session.scalar(stmt) or 0)

    async def agenda(
        self,
        owner_id: str,
        *,
        visible: ColumnElement[bool] | None,
        due_from: dt.datetime | None,
        due_before: dt.datetime,
        blocked_statuses: Sequence[str],
        limit: int,
    ) -> list[tuple[Activity, Lead]]:
        """Open tasks and events of one owner due in [due_from, due_before), soonest first."""
        conditions = [
            Activity.owner_id == owner_id,
            Activity.done_at.is_(None),  # matches the partial index ix_activity_owner_open
            Activity.kind.in_(SCHEDULED_KINDS),
            Activity.due_at < due_before,
            Lead.status.not_in(blocked_statuses),
        ]
        if due_from is not None:
            conditions.append(Activity.due_at >= due_from)
        if visible is not None:
            conditions.append(visible)
        stmt = (
            select(Activity, Lead)
            .join(Lead, Lead.id == Activity.lead_id)
            .where(and_(*conditions))
            .order_by(Activity.due_at, Activity.id)
            .limit(limit)
        )
        return [(a, lead) for a, lead in (await self.session.execute(stmt)).all()]

    async def claim_due_reminders(self, now: dt.datetime, limit: int) -> list[tuple[Activity, str]]:
        """Mark up to ``limit`` due reminders as sent and return them with their lead's status.

        ``FOR UPDATE SKIP LOCKED`` lets replicas share the work; the ``reminder_sent_at IS NULL`` guard
        on the UPDATE makes a second run (or a racing worker) claim nothing twice.
        """
        due = (
            select(Activity.id)
            .where(Activity.remind_at <= now, Activity.reminder_sent_at.is_(None))
            .order_by(Activity.remind_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = (
            update(Activity)
            .where(Activity.id.in_(due), Activity.reminder_sent_at.is_(None))
            .values(reminder_sent_at=now)
            .returning(Activity)
            .execution_options(synchronize_session=False)
        )
        activities = list((await self.session.scalars(claimed)).all())
        if not activities:
            return []
        rows = await self.session.execute(
            select(Lead.id, Lead.status).where(Lead.id.in_({a.lead_id for a in activities}))
        )
        statuses: dict[uuid.UUID, str] = {lead_id: status for lead_id, status in rows}
        return [(a, statuses.get(a.lead_id, "")) for a in activities]
