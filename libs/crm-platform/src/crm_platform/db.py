"""Async SQLAlchemy: a Base per service with a naming convention, engine and session factory.

The edge (one request, one message, one task) owns the transaction through :func:`transaction`;
services only ``flush()``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg
import orjson
from sqlalchemy import DateTime, MetaData, event, func, insert, inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Mapped, configure_mappers, make_transient_to_detached, mapped_column
from sqlalchemy.types import Uuid

from crm_platform.ids import new_id

log = logging.getLogger(__name__)

M = TypeVar("M")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow, onupdate=utcnow
    )


def create_engine(url: str, pool_size: int = 5, *, pre_ping: bool = False, **kwargs: Any) -> AsyncEngine:
    """The service's engine. No ping per checkout by default (a round trip per transaction): after a
    database restart the first statement on a dead connection fails, SQLAlchemy then invalidates the
    whole pool and the next transaction reconnects; connections are recycled every 30 minutes."""
    kwargs.setdefault("pool_recycle", 1800)
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping, **kwargs
    )


async def driver_connect(engine: AsyncEngine, **server_settings: str) -> asyncpg.Connection:
    """A connection to the engine's database opened by asyncpg itself, outside the pool, for a
    long-lived task that runs the same few statements all day (the outbox relay): no session, no
    SQLAlchemy execution path, session-level ``server_settings`` set once at connect."""
    _, kwargs = engine.dialect.create_connect_args(engine.url)
    for adapter_only in ("prepared_statement_cache_size", "prepared_statement_name_func", "async_creator_fn"):
        kwargs.pop(adapter_only, None)
    kwargs["server_settings"] = {**kwargs.get("server_settings", {}), **server_settings}
    return await asyncpg.connect(**kwargs)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def new_object(model: type[M], **values: Any) -> M:
    """A new (transient) mapped object with these attribute values, built without the ORM's event
    per attribute: ~2 us instead of ~40 us for a 40-column row (bulk intake builds hundreds). The
    values count as unchanged, which is what :func:`insert_objects` and a later ``session.add`` read;
    later changes to the object are tracked as usual."""
    if not model.__mapper__.configured:  # type: ignore[attr-defined]
        configure_mappers()  # what the ORM's own constructor would trigger: instruments the attributes
    obj: M = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)
    return obj


# session.info: (SessionTransaction, AsyncConnection, DB-API adapter) the driver_* calls run on
_DRIVER = "crm_platform.driver"
# session.info: callables run before a driver_execute (it may write), e.g. to forget a cached read
ON_DRIVER_WRITE = "crm_platform.on_driver_write"
# told (engine, SQL) of each driver_* statement, as SQLAlchemy's before_cursor_execute is of its own
# (crm_platform.testing.harness.sql_log); empty outside tests
DRIVER_STATEMENT_OBSERVERS: list[Callable[[Engine, str], None]] = []


async def _driver(session: AsyncSession) -> tuple[AsyncConnection, Any]:
    """The session's connection and SQLAlchemy's asyncpg adapter of it, with the transaction begun."""
    memo = session.info.get(_DRIVER)
    transaction = session.sync_session.get_transaction()
    if memo is not None and transaction is not None and memo[0] is transaction:
        conn, adapted = memo[1], memo[2]
    else:
        conn = await session.connection()  # begins the session's transaction on SQLAlchemy's side
        adapted = (await conn.get_raw_connection()).dbapi_connection
        session.info[_DRIVER] = (session.sync_session.get_transaction(), conn, adapted)
    if adapted._transaction is None:  # the adapter sends BEGIN with the first statement: send it now
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()
    return conn, adapted


async def _database_error(
    conn: AsyncConnection, adapted: Any, sql: str, args: Any, exc: Exception
) -> Exception:
    """The exception SQLAlchemy would raise for ``exc`` from the same statement (IntegrityError,
    DBAPIError with connection_invalidated, ...), so the edges map it as they map any other."""
    try:
        adapted._handle_exception(exc)  # raises the DB-API error the adapter makes of an asyncpg one
    except Exception as dbapi_error:
        exc = dbapi_error
    dialect = conn.dialect
    gone = dialect.is_disconnect(exc, adapted, None)  # type: ignore[arg-type]
    if gone:
        await conn.invalidate()
    return DBAPIError.instance(
        sql, args, exc, dialect.loaded_dbapi.Error, connection_invalidated=gone, dialect=dialect
    )


async def driver_fetch(session: AsyncSession, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of ``sql`` (asyncpg's $n parameters) in the session's transaction, run by asyncpg itself
    with its statement cache: for the few statements of a hot path, where SQLAlchemy's execution
    path costs ~4x the client CPU of the statement (bench/README.md, round 6). A plain read: use
    :func:`driver_execute` for anything that writes. Errors are SQLAlchemy's, as from
    ``session.execute``. json/jsonb values come back as text."""
    conn, adapted = await _driver(session)
    for observe in DRIVER_STATEMENT_OBSERVERS:
        observe(conn.sync_engine, sql)
    try:
        return list(await adapted._connection.fetch(sql, *args))
    except Exception as exc:
        raise await _database_error(conn, adapted, sql, args, exc) from exc


async def driver_execute(session: AsyncSession, sql: str, *args: Any) -> list[asyncpg.Record]:
    """:func:`driver_fetch` for a statement that may write (its RETURNING rows, if any): what
    remembers reads of the transaction (e.g. :mod:`crm_platform.config_cache`) is told first."""
    for forget in session.info.get(ON_DRIVER_WRITE, ()):
        forget()
    return await driver_fetch(session, sql, *args)


async def select_copies(session: AsyncSession, model: type[M], stmt: Any) -> list[M]:
    """The rows of ``stmt`` (a Core ``select`` of ``model``'s table columns) as transient objects of
    ``model`` that belong to no session: read-only copies a process may keep across transactions
    (e.g. in :mod:`crm_platform.config_cache`) without expiry or lazy loads; no ORM identity map."""
    return [new_object(model, **row._mapping) for row in (await session.execute(stmt)).all()]


async def insert_objects(session: AsyncSession, objects: Sequence[Any], *, attach: bool = False) -> None:
    """INSERT new mapped objects with one statement, without the ORM unit of work (for bulk writes of
    rows the transaction will not change again). Python-side column defaults are applied as the ORM
    would (to attributes never set). Inside :func:`coalesced_inserts` the rows are only collected and
    written with the block's other rows. The objects stay transient, unless ``attach``: then they join
    the session as persistent rows, so later changes to them are flushed as UPDATEs (a column only the
    database fills, by a server default, is then unloaded: set it or do not read it; inside a coalesced
    block, change them only after the block)."""
    if not objects:
        return
    table = type(objects[0]).__table__
    columns = list(table.columns)
    for obj in objects:
        state = inspect(obj).dict
        for c in columns:
            if c.key in state:
                continue
            default = c.default
            if default is not None and default.is_scalar:
                state[c.key] = default.arg
            elif default is not None and default.is_callable:
                state[c.key] = default.arg(None)
            elif attach and c.server_default is None:
                state[c.key] = None  # known, so never lazy-loaded (no I/O outside the event loop)
    states = [inspect(o).dict for o in objects]
    # a column no object set and the database fills (server_default) is left out, not sent as NULL
    keys = [c.key for c in columns if c.server_default is None or any(c.key in st for st in states)]
    rows = [{k: st.get(k) for k in keys} for st in states]
    pending = _pending(session)
    if pending is not None:
        pending.setdefault((table, ()), []).extend(rows)
    else:
        await session.execute(insert(table), rows)
    if attach:
        for obj in objects:
            make_transient_to_detached(obj)
            session.add(obj)


_COALESCED = "crm_platform.coalesced_inserts"


# rows to write, per (table, upsert key): () = plain INSERT, else ON CONFLICT (key) DO UPDATE
Pending = dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]]


def _pending(session: AsyncSession) -> Pending | None:
    pending: Pending | None = session.info.get(_COALESCED)
    return pending


async def insert_rows(session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows (dicts with the same keys) with one executemany; inside :func:`coalesced_inserts`
    they are only collected, and written with the block's other rows."""
    if not rows:
        return
    pending = _pending(session)
    if pending is not None:
        pending.setdefault((table, ()), []).extend(rows)
        return
    await session.execute(insert(table), list(rows))


async def upsert_rows(
    session: AsyncSession, table: Any, rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> None:
    """INSERT rows, or UPDATE the given columns of the row with the same ``key`` columns (e.g. a
    state row the transaction has locked); collected like :func:`insert_rows` inside a block."""
    if not rows:
        return
    pending = _pending(session)
    if pending is not None:
        pending.setdefault((table, tuple(key)), []).extend(rows)
        return
    stmt = pg_insert(table).values(list(rows))
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in key}
    await session.execute(stmt.on_conflict_do_update(index_elements=list(key), set_=updates))


@asynccontextmanager
async def coalesced_inserts(session: AsyncSession) -> AsyncIterator[None]:
    """Rows given to :func:`insert_rows`, :func:`upsert_rows` and :func:`insert_objects` in the block
    are written at its end, all tables in ONE statement and one round trip (:func:`write_rows`), in
    the order given per table. A use case that writes audit, outbox, child and parent rows in several
    steps pays one statement; the foreign keys between them are checked at the end of that statement,
    so a child may be collected before its parent. Nothing in the block may read those rows back.
    Nested blocks leave the writing to the outermost; on an exception nothing is written (the
    transaction rolls back anyway)."""
    if _COALESCED in session.info:
        yield
        return
    pending: Pending = {}
    session.info[_COALESCED] = pending
    try:
        yield
    finally:
        del session.info[_COALESCED]
    await write_rows(session, pending)


def _json_value(value: Any) -> Any:
    """What orjson does not write itself (it writes uuid.UUID, datetime, date, time and enums, but
    not subclasses such as the UUIDs asyncpg reads)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()  # bytea's hex input form
    raise TypeError(f"cannot write {type(value).__name__} as a column value")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def write_rows(session: AsyncSession, pending: Pending) -> None:
    """INSERT (or upsert) the rows of several tables with one statement: per table (and set of keys)
    a data-modifying CTE ``INSERT INTO t (cols) SELECT cols FROM jsonb_populate_recordset(NULL::t,
    $n)`` whose parameter is the rows as one JSON document. One round trip and one parameter per table
    instead of an executemany per table: PostgreSQL parses the values (uuid, timestamptz, arrays,
    jsonb, numeric, bytea from their JSON/text forms) and applies the server defaults of the columns
    no row gives; a row's order in its table is kept (sequences too)."""
    parts: list[str] = []
    params: list[str] = []
    for (table, key), rows in pending.items():
        if key:  # one statement may not update a row twice: the last state of each key wins
            rows = list({tuple(row[k] for k in key): row for row in rows}.values())
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            groups.setdefault(tuple(row), []).append(row)
        name = ".".join(_quote(n) for n in table.fullname.split("."))
        for keys, group in groups.items():
            names = [table.c[k].name for k in keys]
            if names != list(keys):
                group = [{table.c[k].name: v for k, v in row.items()} for row in group]
            cols = ", ".join(_quote(n) for n in names)
            conflict = ""
            if key:
                sets = ", ".join(f"{_quote(n)} = EXCLUDED.{_quote(n)}" for n in names if n not in key)
                target = ", ".join(_quote(table.c[k].name) for k in key)
                conflict = f" ON CONFLICT ({target}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING")
            params.append(orjson.dumps(group, default=_json_value).decode())
            parts.append(
                f"w{len(parts)} AS (INSERT INTO {name} ({cols}) SELECT {cols} "
                f"FROM jsonb_populate_recordset(NULL::{name}, ${len(params)}::jsonb){conflict})"
            )
    if parts:
        await driver_execute(session, f"WITH {', '.join(parts)} SELECT 1", *params)


_AFTER_COMMIT = "crm_platform.after_commit"


def after_commit(session: AsyncSession, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's current transaction commits; drop it if the transaction rolls
    back (so a rolled-back request never sends a task, wakes a worker or counts in a metric). An action
    that raises is logged and never breaks the committed work."""
    info = session.info
    if _AFTER_COMMIT not in info:
        info[_AFTER_COMMIT] = []

        def _commit(_: Any) -> None:
            actions, info[_AFTER_COMMIT] = info[_AFTER_COMMIT], []
            for act in actions:
                try:
                    act()
                except Exception:
                    log.exception("after-commit action failed")

        def _rollback(*_: Any) -> None:
            info[_AFTER_COMMIT] = []

        event.listen(session.sync_session, "after_commit", _commit)
        event.listen(session.sync_session, "after_soft_rollback", _rollback)
    info[_AFTER_COMMIT].append(action)
