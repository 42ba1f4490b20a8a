from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.notify.models import ObservedEvent


class ObservedEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_once(self, values: dict[str, Any]) -> bool:
        """Insert unless an event with the same event_id is already stored; True if inserted."""
        stmt = (
            insert(ObservedEvent)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[ObservedEvent.event_id])
            .returning(ObservedEvent.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def get(self, event_id: str) -> ObservedEvent | None:
        return await self.session.scalar(select(ObservedEvent).where(ObservedEvent.event_id == event_id))

    async def latest(self, subject: str | None, limit: int) -> list[ObservedEvent]:
        stmt = select(ObservedEvent).order_by(ObservedEvent.received_at.desc(), ObservedEvent.id.desc())
        if subject:
            stmt = stmt.where(ObservedEvent.subject == subject)
        return list((await self.session.scalars(stmt.limit(limit))).all())

    async def delete_received_before(self, cutoff: dt.datetime) -> int:
        result = await self.session.execute(
            delete(ObservedEvent).where(ObservedEvent.received_at < cutoff).returning(ObservedEvent.id)
        )
        return len(result.all())
