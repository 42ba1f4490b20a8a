"""Transactional outbox: the event row is written in the business transaction; a relay publishes it.

The relay claims rows with ``FOR UPDATE SKIP LOCKED`` (so replicas never double-publish), publishes each
with ``Nats-Msg-Id`` = event id (JetStream de-duplicates retries), marks the row published only after the
PubAck, and retries forever with backoff. It exports the oldest unpublished row's age as a metric.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import orjson
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_platform import observability as obs
from crm_platform.db import driver_connect, transaction, utcnow
from crm_platform.ids import first_id_at, new_id
from crm_platform.repository import RELAY_SERVER_SETTINGS, OutboxRepository, RelayRepository
from crm_platform.tables import PlatformTables

log = logging.getLogger(__name__)

HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_EVENT_TYPE = "Crm-Event-Type"
HEADER_OCCURRED_AT = "Crm-Occurred-At"
HEADER_TRACEPARENT = "traceparent"


def build_headers(event_id: uuid.UUID, event_type: str, occurred_at: dt.datetime) -> dict[str, str]:
    headers = {
        HEADER_MSG_ID: str(event_id),
        HEADER_EVENT_TYPE: event_type,
        HEADER_OCCURRED_AT: occurred_at.isoformat(),
    }
    traceparent = obs.current_traceparent()
    if traceparent:
        headers[HEADER_TRACEPARENT] = traceparent
    return headers


_TRACES = "crm_platform.event_traces"  # session.info: aggregate id -> traceparent of its events


def trace_events_of(session: AsyncSession, traces: dict[str, str]) -> None:
    """Events of these aggregates written later in the session's transaction continue these traces
    (aggregate id -> W3C traceparent) instead of the writer's own: for a transaction shared by the
    requests of different callers (crm_platform.batching), each lead's events belong to the request
    that made it."""
    session.info.setdefault(_TRACES, {}).update({k: v for k, v in traces.items() if v})


class _Stamper:
    """Fills events' metadata envelopes and makes their outbox rows. The events of one call share
    the time and the trace context (one business transaction), so those are taken once; an aggregate
    named in :func:`trace_events_of` keeps its own trace."""

    def __init__(self, producer: str, traces: dict[str, str] | None = None) -> None:
        self.producer = producer
        self.occurred_at = utcnow()
        self.timestamp = Timestamp()
        self.timestamp.FromDatetime(self.occurred_at)
        self.at_text = self.occurred_at.isoformat()
        self.traceparent = obs.current_traceparent() or ""
        self.traces = traces or {}

    def row(self, subject: str, message: Message, aggregate_id: str) -> dict[str, Any]:
        event_id = new_id()
        event_type = message.DESCRIPTOR.full_name
        id_text = str(event_id)
        traceparent = self.traces.get(aggregate_id, self.traceparent)
        headers = {HEADER_MSG_ID: id_text, HEADER_EVENT_TYPE: event_type, HEADER_OCCURRED_AT: self.at_text}
        if traceparent:
            headers[HEADER_TRACEPARENT] = traceparent
        if "metadata" in message.DESCRIPTOR.fields_by_name:
            meta: Any = message.metadata  # type: ignore[attr-defined]
            meta.event_id = id_text
            meta.event_type = event_type
            meta.occurred_at.CopyFrom(self.timestamp)
            meta.producer = self.producer
            meta.traceparent = traceparent
            meta.aggregate_id = aggregate_id
        return {
            "id": event_id,
            "event_type": event_type,
            "payload": message.SerializeToString(),
            "headers": headers,
            "created_at": self.occurred_at,
            "subject": subject,
        }


async def add_event(
    session: AsyncSession,
    tables: PlatformTables,
    subject: str,
    message: Message,
    *,
    producer: str,
    aggregate_id: str = "",
) -> uuid.UUID:
    """Write one event into the outbox within the caller's transaction; never publishes."""
    return (await add_events(session, tables, [(subject, message, aggregate_id)], producer=producer))[0]


async def add_events(
    session: AsyncSession,
    tables: PlatformTables,
    events: Sequence[tuple[str, Message, str]],
    *,
    producer: str,
) -> list[uuid.UUID]:
    """Write many events (subject, message, aggregate id) in one INSERT, in order; never publishes."""
    if not events:
        return []
    stamper = _Stamper(producer, session.info.get(_TRACES))
    rows = [stamper.row(subject, message, aggregate_id) for subject, message, aggregate_id in events]
    await OutboxRepository(session, tables).insert_many(rows)
    return [r["id"] for r in rows]


class OutboxRelay:
    """Publishes outbox rows to JetStream. Safe to run in every replica."""

    def __init__(
        self,
        service: str,
        sessions: async_sessionmaker[AsyncSession],
        tables: PlatformTables,
        js: JetStreamContext,
        *,
        batch_size: int = 100,
        idle_seconds: float = 0.05,
        max_backoff: float = 5.0,
        publish_timeout: float = 2.0,
        on_missing_stream: Callable[[], Awaitable[None]] | None = None,
        retention: dt.timedelta | None = dt.timedelta(days=7),
        purge_every: float = 60.0,
        purge_chunk: int = 5000,
    ) -> None:
        self.service = service
        self.sessions = sessions
        self.tables = tables
        self.js = js
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.max_backoff = max_backoff
        self.publish_timeout = publish_timeout
        self.on_missing_stream = on_missing_stream
        self.retention = retention  # published rows older than this are deleted; None keeps them
        self.purge_every = purge_every
        self.purge_chunk = purge_chunk
        self._wake = asyncio.Event()
        self._stopping = False
        self.repo = RelayRepository(tables)
        self._conn: asyncpg.Connection | None = None

    def kick(self) -> None:
        """Wake the relay now (called after a commit that wrote events)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _connection(self) -> asyncpg.Connection:
        """The relay's own connection (opened on first use and after a failure): its settings are
        set once at connect, and its rounds skip the session and ORM machinery."""
        if self._conn is None or self._conn.is_closed():
            engine = self.sessions.kw["bind"]
            self._conn = await driver_connect(
                engine, application_name=f"crm-{self.service}-relay", **RELAY_SERVER_SETTINGS
            )
        return self._conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), timeout=2.0)
            except Exception:  # closing a broken connection: drop it
                conn.terminate()

    async def run_once(self) -> int:
        """Publish one batch with every PubAck in flight; returns rows published. Rows whose publish
        failed stay unpublished (their error recorded) and the first error is raised after the commit."""
        conn = await self._connection()
        try:
            done, error = await self._round(conn)
        except BaseException:
            # the round's statements failed (database gone, connection lost) or were cancelled: the
            # transaction rolled back, its rows stay unpublished; a new connection next round
            conn.terminate()
            self._conn = None
            raise
        obs.OUTBOX_PUBLISHED.labels(self.service).inc(done)
        if error is not None:
            raise error
        return done

    async def _round(self, conn: asyncpg.Connection) -> tuple[int, BaseException | None]:
        async with conn.transaction():
            rows = await self.repo.claim_unpublished(conn, self.batch_size)
            if not rows:
                return 0, None
            pending: list[tuple[uuid.UUID, asyncio.Future[Any]]] = []
            error: BaseException | None = None
            for row in rows:  # sent in stream order on one connection; acks come back asynchronously
                try:
                    # no wait_stall: a batch never fills nats-py's 4,000 pending slots, and a
                    # timeout there would cost an extra asyncio task per message
                    future = await self.js.publish_async(
                        row["subject"], row["payload"], headers=orjson.loads(row["headers"])
                    )
                except Exception as exc:  # NATS down: keep this and the following rows for the next round
                    error = exc
                    break
                pending.append((row["id"], future))
            if pending:
                _, late = await asyncio.wait([f for _, f in pending], timeout=self.publish_timeout)
                for future in late:
                    future.cancel()
            done: list[uuid.UUID] = []
            failed: dict[uuid.UUID, str] = {}
            for row_id, future in pending:
                if future.cancelled():
                    failed[row_id] = "TimeoutError: no PubAck in time"
                elif future.exception() is not None:
                    failed[row_id] = f"{type(future.exception()).__name__}: {future.exception()}"
                else:
                    done.append(row_id)
            for row_id, reason in failed.items():
                await self.repo.record_failure(conn, row_id, reason)
            if failed and error is None:
                error = RuntimeError(next(iter(failed.values())))
            if done:
                await self.repo.mark_published(conn, done, utcnow())
        return len(done), error

    async def purge_published(self, now: dt.datetime | None = None) -> int:
        """Delete published rows older than the retention, a chunk per transaction (short locks,
        small WAL bursts); at most 20 chunks a call, the next call goes on. Returns rows deleted."""
        if self.retention is None:
            return 0
        before = first_id_at((now or utcnow()) - self.retention)
        deleted = 0
        for _ in range(20):
            async with transaction(self.sessions) as session:
                n = await OutboxRepository(session, self.tables).purge_published(before, self.purge_chunk)
            deleted += n
            if n < self.purge_chunk:
                break
        return deleted

    async def refresh_age_metric(self) -> None:
        async with self.sessions() as session:
            age = await OutboxRepository(session, self.tables).oldest_unpublished_age()
        obs.OUTBOX_OLDEST_AGE.labels(self.service).set(age)

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self.close()

    async def _run(self) -> None:
        backoff = 0.1
        last_metric = 0.0
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                n = await self.run_once()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox relay: publish failed, retrying in %.1fs: %s", backoff, exc)
                if self.on_missing_stream is not None and "NoStreamResponse" in repr(exc):
                    try:
                        await self.on_missing_stream()
                    except Exception as again:
                        log.warning("outbox relay: could not restore the stream: %s", again)
                n = 0
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            now = loop.time()
            if now - last_metric > 1.0:
                last_metric = now
                try:
                    await self.refresh_age_metric()
                except Exception as exc:  # metrics must never kill the relay
                    log.debug("outbox age metric failed: %s", exc)
            if self.retention is not None and now - last_purge > self.purge_every:
                last_purge = now
                try:
                    purged = await self.purge_published()
                    if purged:
                        log.info(
                            "outbox relay: deleted %d published rows older than %s", purged, self.retention
                        )
                except Exception as exc:  # housekeeping must never stop publishing
                    log.warning("outbox purge failed: %s", exc)
            if n < self.batch_size and not self._stopping:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.idle_seconds)
                except TimeoutError:
                    pass
