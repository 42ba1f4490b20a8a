"""Observed events: the log of integration facts notify has consumed. Flushes, never commits."""

from __future__ import annotations

import datetime as dt

from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.notify.exceptions import ObservedEventNotFound
from crm_notify.notify.models import ObservedEvent
from crm_notify.notify.repository import ObservedEventRepository
from crm_notify.notify.schemas import ObservedEventIn

MAX_LIST_LIMIT = 500
READER_ROLES = ("admin", "manager")


class ObservedEventService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = ObservedEventRepository(session)

    async def record(self, data: ObservedEventIn) -> bool:
        """Store one consumed event; a second delivery of the same event id changes nothing."""
        return await self.repo.add_once(
            {"id": new_id(), "received_at": utcnow(), **data.model_dump()},
        )

    async def latest(
        self, who: Principal, subject: str | None = None, limit: int = 50
    ) -> list[ObservedEvent]:
        who.require(*READER_ROLES)
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValidationFailed({"limit": f"must be between 1 and {MAX_LIST_LIMIT}"})
        return await self.repo.latest(subject or None, limit)

    async def get(self, event_id: str, who: Principal) -> ObservedEvent:
        who.require(*READER_ROLES)
        event = await self.repo.get(event_id)
        if event is None:
            raise ObservedEventNotFound(f"event {event_id} has not been observed")
        return event

    async def purge(self, older_than_days: int, now: dt.datetime | None = None) -> int:
        """Delete observed events received more than ``older_than_days`` days ago; returns how many."""
        if older_than_days < 1:
            raise ValidationFailed({"older_than_days": "must be at least 1"})
        cutoff = (now or utcnow()) - dt.timedelta(days=older_than_days)
        return await self.repo.delete_received_before(cutoff)
