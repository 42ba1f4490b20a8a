from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from crm_platform.ids import new_id
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_telephony.phonebook.models import IndexSource as Source
from crm_telephony.phonebook.models import PhoneIndexEntry as Entry

KEY = (Entry.e164, Entry.record_service, Entry.record_type, Entry.record_id)
SOURCE_KEY = [Source.record_service, Source.record_type, Source.record_id]


class PhoneIndexRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def replace_numbers(
        self,
        service: str,
        record_type: str,
        record_id: str,
        numbers: Sequence[str],
        *,
        display_name: str,
        owner_id: str | None,
        now: dt.datetime,
    ) -> None:
        """Make ``numbers`` the record's exact set of indexed phones (insert, refresh or drop rows)."""
        of_record = (
            Entry.record_service == service,
            Entry.record_type == record_type,
            Entry.record_id == record_id,
        )
        await self.session.execute(delete(Entry).where(*of_record, Entry.e164.not_in(numbers)))
        if not numbers:
            return
        common = {
            "record_service": service,
            "record_type": record_type,
            "record_id": record_id,
            "display_name": display_name,
            "owner_id": owner_id,
            "updated_at": now,
        }
        stmt = insert(Entry).values([{"id": new_id(), "e164": n, **common} for n in numbers])
        stmt = stmt.on_conflict_do_update(
            index_elements=list(KEY),
            set_={
                "display_name": stmt.excluded.display_name,
                "owner_id": stmt.excluded.owner_id,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        await self.session.execute(stmt)

    async def claim(self, service: str, record_type: str, record_id: str, event_at: dt.datetime) -> bool:
        """Note that an event of ``event_at`` is applied to the record, unless a later one already was or
        the record was merged away (False: skip it). The record's row stays locked until commit, so the
        handlers of one record apply one at a time."""
        stmt = insert(Source).values(
            record_service=service, record_type=record_type, record_id=record_id, event_at=event_at
        )
        claimed = stmt.on_conflict_do_update(
            index_elements=SOURCE_KEY,
            set_={"event_at": stmt.excluded.event_at},
            where=Source.merged_into_id.is_(None) & (Source.event_at <= stmt.excluded.event_at),
        ).returning(Source.record_id)
        return (await self.session.execute(claimed)).first() is not None

    async def mark_merged(
        self, service: str, record_type: str, record_id: str, into_id: str, event_at: dt.datetime
    ) -> None:
        """The record was merged into ``into_id``: every later event about it is skipped."""
        stmt = insert(Source).values(
            record_service=service,
            record_type=record_type,
            record_id=record_id,
            event_at=event_at,
            merged_into_id=into_id,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=SOURCE_KEY,
            set_={
                "merged_into_id": stmt.excluded.merged_into_id,
                "event_at": func.greatest(Source.event_at, stmt.excluded.event_at),
            },
        )
        await self.session.execute(stmt)

    async def find(self, e164: str) -> list[Entry]:
        stmt = (
            select(Entry)
            .where(Entry.e164 == e164)
            .order_by(Entry.record_service, Entry.record_type, Entry.display_name, Entry.record_id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def page_after(self, after: uuid.UUID | None, limit: int) -> list[Entry]:
        stmt = select(Entry).order_by(Entry.id).limit(limit)
        if after is not None:
            stmt = stmt.where(Entry.id > after)
        return list((await self.session.scalars(stmt)).all())

    async def holds(self, e164: str, service: str, record_type: str, record_id: str) -> bool:
        stmt = select(Entry.id).where(
            Entry.e164 == e164,
            Entry.record_service == service,
            Entry.record_type == record_type,
            Entry.record_id == record_id,
        )
        return (await self.session.scalar(stmt)) is not None

    async def set_number(self, entry_id: uuid.UUID, e164: str, now: dt.datetime) -> None:
        await self.session.execute(
            update(Entry).where(Entry.id == entry_id).values(e164=e164, updated_at=now)
        )

    async def remove(self, entry_id: uuid.UUID) -> None:
        await self.session.execute(delete(Entry).where(Entry.id == entry_id))
