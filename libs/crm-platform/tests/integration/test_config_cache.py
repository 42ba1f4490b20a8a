"""crm_platform.config_cache against real PostgreSQL (the leads schema as the host: migration 0007 puts
config_version and its triggers on custom_field_def, assignment_rule and rep)."""

from __future__ import annotations

from crm_leads.app import definition
from crm_platform.config_cache import ConfigCache
from crm_platform.db import transaction
from crm_platform.testing.harness import sql_log
from sqlalchemy import text


async def test_copies_follow_the_database_and_a_transaction_sees_its_own_change(crm):
    leads = await crm.start(definition)
    cache = ConfigCache()
    with sql_log(leads.runtime.engine, "FROM CONFIG_VERSION") as version_reads:

        async def keys(session) -> list[str]:
            return [
                k for (k,) in (await session.execute(text("SELECT key FROM custom_field_def ORDER BY 1")))
            ]

        async with transaction(leads.runtime.sessions) as session:
            loader = lambda: keys(session)  # noqa: E731
            assert await cache.get(session, "defs", loader) == []
            assert await cache.get(session, "defs", loader) == []
            assert await cache.get(session, "other", loader) == []
            assert cache.loads == 2 and len(version_reads) == 1  # one version read per transaction
            await session.execute(
                text(
                    "INSERT INTO custom_field_def (key, label, type, choices, required)"
                    " VALUES ('budget', 'Budget', 'number', '[]', false)"
                )
            )
            assert await cache.get(session, "defs", loader) == ["budget"]  # its own change, at once

        async with transaction(leads.runtime.sessions) as session:  # a new transaction: read again
            loads, reads = cache.loads, len(version_reads)
            assert await cache.get(session, "defs", lambda: keys(session)) == ["budget"]
            assert cache.loads == loads and len(version_reads) == reads + 1

        async with transaction(leads.runtime.sessions) as session:  # a change from elsewhere (plain SQL)
            await session.execute(text("DELETE FROM custom_field_def"))
        async with transaction(leads.runtime.sessions) as session:
            assert await cache.get(session, "defs", lambda: keys(session)) == []

        async with transaction(leads.runtime.sessions) as session:  # counter row gone: never trusted
            await session.execute(text("DELETE FROM config_version"))
            loads = cache.loads
            assert await cache.get(session, "defs", lambda: keys(session)) == []
            assert await cache.get(session, "defs", lambda: keys(session)) == []
            assert cache.loads == loads  # loaded each time, not kept
