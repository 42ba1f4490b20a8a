"""pytest plugin (``-p crm_platform.testing.plugin``): real servers and in-process services."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack

import pytest
import pytest_asyncio

from crm_platform.testing.harness import DatabaseFactory, ServiceHarness
from crm_platform.testing.servers import ServerUrls, resolve_servers

SERVICES = ("LEADS", "DEALS", "BILLING", "NOTIFY", "TELEPHONY")
_stack = ExitStack()
_servers: ServerUrls | None = None


def _ensure_servers() -> ServerUrls:
    """Resolved once, before test modules import service settings, so workers see the same URLs."""
    global _servers
    if _servers is None:
        _servers = resolve_servers(_stack)
        for prefix in SERVICES:
            os.environ.setdefault(f"{prefix}_NATS_URL", _servers.nats)
            os.environ.setdefault(f"{prefix}_REDIS_URL", _servers.redis)
            os.environ.setdefault(f"{prefix}_ENV", "test")
    return _servers


def pytest_configure(config: pytest.Config) -> None:
    _ensure_servers()


def pytest_unconfigure(config: pytest.Config) -> None:
    _stack.close()


def pytest_report_header(config: pytest.Config) -> str:
    s = _ensure_servers()
    return f"crm servers: postgres={s.origin['postgres']} nats={s.origin['nats']} redis={s.origin['redis']}"


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerUrls]:
    yield _ensure_servers()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def databases(servers: ServerUrls) -> AsyncIterator[DatabaseFactory]:
    factory = DatabaseFactory(servers)
    yield factory
    await factory.drop_all()


@pytest_asyncio.fixture(loop_scope="session")
async def crm(servers: ServerUrls, databases: DatabaseFactory) -> AsyncIterator[ServiceHarness]:
    harness = ServiceHarness(servers, databases)
    await harness.reset_nats()
    try:
        yield harness
    finally:
        await harness.close()
