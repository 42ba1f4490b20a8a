"""Fixtures of the notify tests: fast retry settings and the protocol peers (SMTP, SMPP, HTTP double)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from crm_notify import worker

sys.path.insert(0, str(Path(__file__).parent))

from notify_support.http_peer import HttpProviderDouble
from notify_support.smsc import Smsc
from notify_support.smtp_peer import SmtpPeer


@pytest.fixture(autouse=True)
def fast_retries() -> Iterator[None]:
    s = worker.settings
    saved = (s.retry_base_seconds, s.max_attempts, s.retry_max_seconds)
    s.retry_base_seconds, s.max_attempts, s.retry_max_seconds = 0.2, 3, 2.0
    yield
    s.retry_base_seconds, s.max_attempts, s.retry_max_seconds = saved


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    with SmtpPeer() as peer:
        yield peer


@pytest_asyncio.fixture(loop_scope="session")
async def smsc() -> AsyncIterator[Smsc]:
    sim = await Smsc().start()
    yield sim
    await sim.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def http_double() -> AsyncIterator[HttpProviderDouble]:
    double = await HttpProviderDouble().start()
    yield double
    await double.stop()
