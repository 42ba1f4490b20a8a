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
  keeps the result. The version is read on every call, not remembered per transaction, so a
  transaction that changes configuration and then reads it sees its own change.

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

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

# with the database's oid: a database dropped and made again under the same URL (or copied from a
# template, as the tests do) starts at the same counter but never passes for the old one
_VERSION = text(
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
        row = (await session.execute(_VERSION)).one_or_none()
        if row is None:  # the counter row was deleted (e.g. a table wipe): no copy can be trusted
            return await load()
        version = (int(row[0]), int(row[1]))
        copies = self._copies.setdefault(session.sync_session.get_bind(), {})  # type: ignore[arg-type]
        copy = copies.get(name)
        if copy is not None and copy[0] == version:
            return copy[1]  # type: ignore[no-any-return]
        value = await load()
        self.loads += 1
        copies[name] = (version, value)
        return value


config_cache = ConfigCache()
