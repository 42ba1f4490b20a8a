"""All SQL on the platform tables (outbox, inbox, dead letters)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Text, any_, bindparam, cast, delete, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import Uuid

from crm_platform.db import insert_rows
from crm_platform.ids import new_id
from crm_platform.tables import PlatformTables

RELAY_SETTINGS = text(
    "SELECT set_config('enable_sort', 'off', true), set_config('synchronous_commit', 'off', true)"
)

# session.info key: this transaction wrote outbox rows (the edge then wakes the relay after the commit)
OUTBOX_WRITTEN = "crm_platform.outbox_written"


class OutboxRepository:
    def __init__(self, session: AsyncSession, tables: PlatformTables) -> None:
        self.session = session
        self.t = tables.outbox

    async def insert_many(self, rows: list[dict[str, Any]]) -> None:
        """Rows keep their order through the table's identity column (the relay publishes by it)."""
        if rows:
            self.session.info[OUTBOX_WRITTEN] = True
        await insert_rows(self.session, self.t, rows)

    async def claim_unpublished(self, limit: int) -> Sequence[Row[Any, Any, Any, Any]]:
        # Read the partial index in seq order and stop at `limit`, never "find every unpublished row,
        # then sort". The planner picks the latter when its statistics say the backlog is small, as
        # they do on a queue table most of the time; with a real backlog (a burst, NATS back after an
        # outage) it then sorted every waiting row, payloads and all, per claim: 16-20 ms and a 5 MB
        # sort on disk at 10,000 waiting rows, just when the relay has to catch up.
        # The claim's transaction only marks rows published: its commit need not wait for the WAL
        # flush (after a crash a lost mark means the row is published again, and JetStream drops the
        # copy by its Nats-Msg-Id, consumers by their inbox).
        await self.session.execute(RELAY_SETTINGS)
        stmt = (
            # headers as text: orjson reads them in the relay at a third of the jsonb codec's cost
            select(
                self.t.c.id, self.t.c.subject, self.t.c.payload, cast(self.t.c.headers, Text).label("headers")
            )
            .where(self.t.c.published_at.is_(None))
            .order_by(self.t.c.seq)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.execute(stmt)).all()

    async def mark_published(self, ids: list[uuid.UUID], when: dt.datetime) -> None:
        # one array parameter, not an IN list of len(ids) parameters: the statement text (and its
        # prepared statement on the connection) is the same whatever the batch size
        await self.session.execute(
            update(self.t)
            .where(self.t.c.id == any_(bindparam("ids", ids, type_=ARRAY(Uuid))))
            .values(published_at=when, attempts=self.t.c.attempts + 1)
        )

    async def record_failure(self, event_id: uuid.UUID, error: str) -> None:
        await self.session.execute(
            update(self.t)
            .where(self.t.c.id == event_id)
            .values(attempts=self.t.c.attempts + 1, last_error=error[:2000])
        )

    async def purge_published(self, before: uuid.UUID, limit: int) -> int:
        """Delete up to ``limit`` published rows whose id (a UUIDv7, so their creation time) is below
        ``before``: a range of the primary key, no index of its own needed. Returns how many."""
        doomed = (
            select(self.t.c.id)
            .where(self.t.c.id < before, self.t.c.published_at.is_not(None))
            .order_by(self.t.c.id)
            .limit(limit)
            .scalar_subquery()
        )
        result = await self.session.execute(delete(self.t).where(self.t.c.id.in_(doomed)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def oldest_unpublished_age(self) -> float:
        oldest = await self.session.scalar(  # the first row of the unpublished index, not a scan of all
            select(self.t.c.created_at).where(self.t.c.published_at.is_(None)).order_by(self.t.c.seq).limit(1)
        )
        if oldest is None:
            return 0.0
        return max(0.0, (dt.datetime.now(dt.UTC) - oldest).total_seconds())


class InboxRepository:
    def __init__(self, session: AsyncSession, tables: PlatformTables) -> None:
        self.session = session
        self.inbox = tables.inbox
        self.dead = tables.dead_letter

    async def try_record(self, consumer: str, event_id: str, subject: str) -> bool:
        """Insert the inbox row; False when this consumer has already applied the event."""
        stmt = (
            pg_insert(self.inbox)
            .values(consumer=consumer, event_id=event_id, subject=subject)
            .on_conflict_do_nothing()
            .returning(self.inbox.c.event_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def add_dead_letter(
        self,
        *,
        consumer: str,
        event_id: str | None,
        subject: str,
        headers: dict[str, str],
        payload: bytes,
        reason: str,
        deliveries: int,
    ) -> None:
        await self.session.execute(
            insert(self.dead).values(
                id=new_id(),
                consumer=consumer,
                event_id=event_id,
                subject=subject,
                headers=headers,
                payload=payload,
                reason=reason[:4000],
                deliveries=deliveries,
            )
        )

    async def dead_letters(self, consumer: str) -> Sequence[Row[Any, Any, Any, Any]]:
        stmt = select(self.dead).where(self.dead.c.consumer == consumer).order_by(self.dead.c.created_at)
        return (await self.session.execute(stmt)).all()

    async def count_applied(self, consumer: str, event_id: str) -> int:
        stmt = select(func.count()).where(
            self.inbox.c.consumer == consumer, self.inbox.c.event_id == event_id
        )
        return int(await self.session.scalar(stmt) or 0)
