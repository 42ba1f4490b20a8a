"""Alembic glue shared by every service: env.py body, platform tables, upgrade, head check."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from crm_platform.db import new_metadata
from crm_platform.tables import platform_tables


def alembic_config(service_root: Path, database_url: str) -> Config:
    cfg = Config(str(service_root / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_root / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(service_root: Path, database_url: str, revision: str = "head") -> None:
    """Run ``alembic upgrade`` (blocking; call from a thread when an event loop is running)."""
    command.upgrade(alembic_config(service_root, database_url), revision)


@functools.cache
def head_revision(service_root: Path) -> str | None:
    script = ScriptDirectory.from_config(alembic_config(service_root, "postgresql://unused"))
    return script.get_current_head()


async def current_and_head(session: AsyncSession, service_root: Path) -> tuple[str | None, str | None]:
    current = await session.scalar(text("SELECT version_num FROM alembic_version LIMIT 1"))
    return current, head_revision(service_root)


def run_env(target_metadata: MetaData) -> None:
    """The whole body of a service's migrations/env.py."""
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return

    def _run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def _main() -> None:
        engine = create_async_engine(str(url), poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(_main())


def create_platform_tables_v1(connection: Connection) -> None:
    """Create outbox_event, inbox_message and dead_letter (schema version 1 of the platform tables)."""
    tables = platform_tables(new_metadata())
    for table in (tables.outbox, tables.inbox, tables.dead_letter):
        table.create(connection)


def drop_platform_tables_v1(connection: Connection) -> None:
    tables = platform_tables(new_metadata())
    for table in (tables.dead_letter, tables.inbox, tables.outbox):
        table.drop(connection)
