"""Per-process caches of configuration rows (rules, reps, field definitions) that stay exact across
replicas.

Configuration is read by every write of a hot path (e.g. each lead create reads the assignment rules,
the reps and the custom field definitions) but changes a few times a day. Reading it from a cache that
other replicas could have made stale is not acceptable (a rep marked unavailable must get nothing from
the next intake, whichever replica takes it), so the cache is checked against the database in the
reader's own transaction:

- the service's database holds one row ``config_version(version)``; statement-level triggers on the
  configuration tables add 1 to it in the writing transaction (:func:`install_sql`, for a migration);
- :meth:`ConfigCache.get` reads that version in the caller's transaction (one tiny primary-key read,
  instead of the loader's queries and object loading) and answers from the process's copy while the
  version is the one the copy was loaded at; otherwise it runs the loader in the same transaction and
  keeps the result. The version read is remembered for the rest of the transaction (several caches,
  one read) until the session writes anything (a flush, or any statement that is not a plain
  SELECT): a transaction that changes configuration and then reads it sees its own change.

A copy is labelled with the version read *before* the loader ran, so a change that commits between the
two reads can only make the copy look older than it is (reloaded once more), never newer. Under READ
COMMITTED this gives the answer a direct read at the version check would give. Copies are kept per
engine (one per database and process) and must be treated as read-only: loaders return detached
objects or plain values.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from crm_platform.db import ON_DRIVER_WRITE, driver_fetch

T = TypeVar("T")

# with the database's oid: a database dropped and made again under the same URL (or copied from a
# template, as the tests do) starts at the same counter but never passes for the old one
_MEMO = "crm_platform.config_version"  # session.info: (transaction, version) read in it
_VERSION = (
    "SELECT (SELECT oid FROM pg_database WHERE datname = current_database()), version FROM config_version"
)


def install_sql(tables: Sequence[str]) -> list[str]:
    """DDL for a migration: the version row, the bump function and a trigger on each table."""
    statements = [
        "CREATE TABLE IF NOT EXISTS config_version ("
        " id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1), version bigint NOT NULL DEFAULT 0)",
        "INSERT INTO config_version (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING",
        "CREATE OR REPLACE FUNCTION crm_bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$"
        " BEGIN UPDATE config_version SET version = version + 1 WHERE id = 1; RETURN NULL; END $$",
    ]
    for table in tables:
        statements.append(
            f"CREATE TRIGGER {table}_config_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE"
            f" ON {table} FOR EACH STATEMENT EXECUTE FUNCTION crm_bump_config_version()"
        )
    return statements


def uninstall_sql(tables: Sequence[str]) -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {t}_config_version ON {t}" for t in tables] + [
        "DROP FUNCTION IF EXISTS crm_bump_config_version()",
        "DROP TABLE IF EXISTS config_version",
    ]


class ConfigCache:
    """Named copies of configuration, valid while ``config_version`` is unchanged (see module doc)."""

    def __init__(self) -> None:
        self._copies: weakref.WeakKeyDictionary[Engine, dict[str, tuple[tuple[int, int], Any]]] = (
            weakref.WeakKeyDictionary()
        )
        self.loads = 0  # loader runs (for tests)

    async def get(self, session: AsyncSession, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """The copy called ``name``, or ``await load()`` (in the session's transaction) if the
        configuration changed since it was made."""
        version = await _version(session)
        if version is None:  # the counter row was deleted (e.g. a table wipe): no copy can be trusted
            return await load()
        copies = self._copies.setdefault(session.sync_session.get_bind(), {})  # type: ignore[arg-type]
        copy = copies.get(name)
        if copy is not None and copy[0] == version:
            return copy[1]  # type: ignore[no-any-return]
        value = await load()
        self.loads += 1
        copies[name] = (version, value)
        return value


async def _version(session: AsyncSession) -> tuple[int, int] | None:
    info = session.info
    transaction = session.sync_session.get_transaction()
    memo = info.get(_MEMO)
    if memo is not None and transaction is not None and memo[0] is transaction:
        return memo[1]  # type: ignore[no-any-return]
    if _MEMO not in info:
        _forget_on_write(session.sync_session)
    rows = await driver_fetch(session, _VERSION)
    version = (int(rows[0][0]), int(rows[0][1])) if rows else None
    info[_MEMO] = (session.sync_session.get_transaction(), version)
    return version


def _forget_on_write(session: Session) -> None:
    """Drop the remembered version once the session writes (it may be writing configuration)."""
    info = session.info

    def _statement(state: ORMExecuteState) -> None:
        sql = getattr(state.statement, "text", None)  # text(): a plain SELECT reads, anything else may write
        if not state.is_select if sql is None else not sql.lstrip()[:6].upper() == "SELECT":
            info[_MEMO] = None

    def _flush(*_: Any) -> None:
        info[_MEMO] = None

    event.listen(session, "do_orm_execute", _statement)
    event.listen(session, "after_flush", _flush)
    info.setdefault(ON_DRIVER_WRITE, []).append(_flush)


config_cache = ConfigCache()
