"""The test harness takes a shared NATS only while no other test run on this machine uses it."""

from __future__ import annotations

import uuid
from contextlib import ExitStack

from crm_platform.testing.servers import _claim_shared


def test_a_second_run_does_not_get_the_shared_nats_until_the_first_ends() -> None:
    url = f"nats://127.0.0.1:4222/{uuid.uuid4()}"  # a URL no real test run holds
    first = ExitStack()
    assert _claim_shared(url, first)
    with ExitStack() as second:
        assert not _claim_shared(url, second)  # another run: it starts a private NATS instead
        assert _claim_shared(f"{url}-other", second)  # a different server is free
    first.close()  # the first run ends
    with ExitStack() as third:
        assert _claim_shared(url, third)
