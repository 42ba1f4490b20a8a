"""Where test servers come from: URLs in the environment, else testcontainers when a Docker engine
answers, else embedded servers from PyPI wheels. Integration tests are never skipped for lack of one.

Databases and Celery queues are private to a test run (names carry the pid), but JetStream streams are
not: each test starts by deleting the CRM_* streams (harness.reset_nats). A run therefore takes the
NATS of CRM_NATS_URL only while no other test run on this machine uses it (an exclusive file lock per
URL); a second, concurrent run gets an embedded NATS of its own instead of breaking the first."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerUrls:
    postgres: str  # admin libpq URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres
    nats: str
    redis: str
    origin: dict[str, str]


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def _from_testcontainers(kind: str, stack: ExitStack) -> str:
    if kind == "postgres":
        from testcontainers.postgres import PostgresContainer

        pg: Any = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
        return str(pg.get_connection_url())
    if kind == "nats":
        from testcontainers.nats import NatsContainer

        nc: Any = stack.enter_context(NatsContainer("nats:2.10-alpine").with_command("-js"))
        return str(nc.nats_uri())
    from testcontainers.redis import RedisContainer

    rc: Any = stack.enter_context(RedisContainer("redis:7-alpine"))
    return f"redis://{rc.get_container_host_ip()}:{rc.get_exposed_port(6379)}/0"


def _from_embedded(kind: str, stack: ExitStack, root: Path) -> str:
    from crm_platform import embedded

    port = embedded.free_port()
    if kind == "postgres":
        server = embedded.start_postgres(root / "pg", port)
    elif kind == "nats":
        server = embedded.start_nats(root / "nats", port)
    else:
        server = embedded.start_redis(root / "redis", port)
    stack.callback(server.stop)
    return server.url


def _claim_shared(url: str, stack: ExitStack) -> bool:
    """Hold an exclusive lock on ``url`` for this test run; False when another run holds it."""
    path = Path(tempfile.gettempdir()) / f"crm-test-nats-{hashlib.sha1(url.encode()).hexdigest()[:12]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    stack.callback(os.close, fd)  # closing the descriptor releases the lock
    return True


def resolve_servers(stack: ExitStack) -> ServerUrls:
    env = {"postgres": "CRM_POSTGRES_URL", "nats": "CRM_NATS_URL", "redis": "CRM_REDIS_URL"}
    urls: dict[str, str] = {}
    origin: dict[str, str] = {}
    docker_ok: bool | None = None
    root: Path | None = None
    for kind, var in env.items():
        value = os.environ.get(var)
        if value and (kind != "nats" or _claim_shared(value, stack)):
            urls[kind], origin[kind] = value, "environment"
            continue
        if value:
            log.warning("%s is in use by another test run on this machine; using a private NATS", value)
        if docker_ok is None:
            docker_ok = _docker_answers()
        if docker_ok:
            try:
                urls[kind], origin[kind] = _from_testcontainers(kind, stack), "testcontainers"
                continue
            except Exception as exc:
                log.warning("testcontainers could not start %s (%s); using the embedded server", kind, exc)
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="crm-test-servers-"))
        urls[kind], origin[kind] = _from_embedded(kind, stack, root), "embedded"
    return ServerUrls(postgres=urls["postgres"], nats=urls["nats"], redis=urls["redis"], origin=origin)
