"""All SQL on the platform tables (outbox, inbox, dead letters)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from crm_platform.db import insert_rows
from crm_platform.ids import new_id
from crm_platform.tables import PlatformTables

# Session settings of the relay's own connection (OutboxRelay). enable_sort off: the claim reads the
# partial index in seq order and stops at its limit, never "find every unpublished row, then sort". The
# planner picks the latter when its statistics say the backlog is small, as they do on a queue table
# most of the time; with a real backlog (a burst, NATS back after an outage) it then sorted every
# waiting row, payloads and all, per claim: 16-20 ms and a 5 MB sort on disk at 10,000 waiting rows,
# just when the relay has to catch up. synchronous_commit off: the relay's transactions only mark rows
# published, so their commits need not wait for the WAL flush (after a crash a lost mark means the row
# is published again, and JetStream drops the copy by its Nats-Msg-Id, consumers by their inbox).
RELAY_SERVER_SETTINGS = {"enable_sort": "off", "synchronous_commit": "off"}

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


class RelayRepository:
    """The relay's statements on the outbox, run on its own asyncpg connection (opened with
    :data:`RELAY_SERVER_SETTINGS`) as plain SQL with asyncpg's statement cache: an ORM session per
    round and SQLAlchemy's execution path per statement cost ~4x the client CPU of the statements
    themselves, and the relay runs about once per committed write under load."""

    def __init__(self, tables: PlatformTables) -> None:
        t = tables.outbox
        name = ".".join('"' + part.replace('"', '""') + '"' for part in t.fullname.split("."))
        # headers as text: orjson reads them in the relay at a third of the jsonb codec's cost
        self.claim_sql = (
            f"SELECT id, subject, payload, headers::text AS headers FROM {name}"
            " WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED"
        )
        # one array parameter, not an IN list of len(ids) parameters: the statement text (and its
        # prepared statement on the connection) is the same whatever the batch size
        self.mark_sql = (
            f"UPDATE {name} SET published_at = $2, attempts = attempts + 1 WHERE id = ANY($1::uuid[])"
        )
        self.failure_sql = f"UPDATE {name} SET attempts = attempts + 1, last_error = $2 WHERE id = $1"

    async def claim_unpublished(self, conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
        """The oldest unpublished rows, locked until the caller's transaction ends; rows another
        replica's relay holds are skipped."""
        return list(await conn.fetch(self.claim_sql, limit))

    async def mark_published(self, conn: asyncpg.Connection, ids: list[uuid.UUID], when: dt.datetime) -> None:
        await conn.execute(self.mark_sql, ids, when)

    async def record_failure(self, conn: asyncpg.Connection, event_id: uuid.UUID, error: str) -> None:
        await conn.execute(self.failure_sql, event_id, error[:2000])


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
