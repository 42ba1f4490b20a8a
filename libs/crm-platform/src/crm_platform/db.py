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
from typing import Any

from sqlalchemy import DateTime, MetaData, event, func, insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from crm_platform.ids import new_id

log = logging.getLogger(__name__)

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


def create_engine(url: str, pool_size: int = 5, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **kwargs)


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


async def insert_objects(session: AsyncSession, objects: Sequence[Any]) -> None:
    """INSERT new mapped objects with one Core executemany, without the ORM unit of work (for bulk
    writes of rows the transaction will not change again). The objects stay transient."""
    if not objects:
        return
    table = type(objects[0]).__table__
    keys = [c.key for c in table.columns]
    await session.execute(insert(table), [{k: getattr(o, k) for k in keys} for o in objects])


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
