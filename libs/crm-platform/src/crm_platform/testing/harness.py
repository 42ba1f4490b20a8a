"""Run services in-process against real servers, each on a fresh database cloned from a migrated
template (one ``alembic upgrade head`` per service per test session)."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
import httpx
import nats
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_platform.auth import issue_token
from crm_platform.db import DRIVER_STATEMENT_OBSERVERS
from crm_platform.migrations import upgrade
from crm_platform.runtime import Runtime, ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from crm_platform.testing.servers import ServerUrls

_counter = itertools.count()


def with_database(url: str, database: str, driver: str | None = None) -> str:
    parts = urlsplit(url)
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, ""))


class DatabaseFactory:
    """Creates per-test databases from a per-session template built by Alembic."""

    def __init__(self, servers: ServerUrls) -> None:
        self.servers = servers
        self.templates: dict[str, str] = {}
        self.created: list[str] = []
        self._lock = asyncio.Lock()
        self.tag = f"{os.getpid()}"

    async def _admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(with_database(self.servers.postgres, "postgres"))

    async def template_for(self, definition: ServiceDefinition) -> str:
        async with self._lock:
            if definition.name not in self.templates:
                name = f"crm_test_{definition.name}_tmpl_{self.tag}"
                conn = await self._admin()
                try:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    await conn.execute(f'CREATE DATABASE "{name}"')
                finally:
                    await conn.close()
                self.created.append(name)
                url = with_database(self.servers.postgres, name, "asyncpg")
                await asyncio.to_thread(upgrade, definition.service_root, url)
                self.templates[definition.name] = name
            return self.templates[definition.name]

    async def fresh(self, definition: ServiceDefinition) -> str:
        template = await self.template_for(definition)
        name = f"crm_test_{definition.name}_{self.tag}_{next(_counter)}"
        conn = await self._admin()
        try:
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await conn.close()
        self.created.append(name)
        return with_database(self.servers.postgres, name, "asyncpg")

    async def drop_all(self) -> None:
        conn = await self._admin()
        try:
            for name in reversed(self.created):
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self.created.clear()
        self.templates.clear()


@dataclass
class RunningService:
    definition: ServiceDefinition
    app: FastAPI
    runtime: Runtime
    http: httpx.AsyncClient
    grpc_channel: grpc.aio.Channel
    database_url: str
    settings: ServiceSettings
    extras: dict[str, Any] = field(default_factory=dict)

    def token(self, role: str = "admin", sub: str | None = None, team: str = "t1") -> str:
        return issue_token(self.settings.jwt_secret, sub or f"user-{role}", (role,), team)

    def auth(self, role: str = "admin", sub: str | None = None, team: str = "t1") -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(role, sub, team)}"}

    def service_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.settings.service_token}"),)

    def user_metadata(
        self, role: str = "admin", sub: str | None = None, team: str = "t1"
    ) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token(role, sub, team)}"),)


class ServiceHarness:
    """Starts services for one test and tears them down afterwards."""

    def __init__(self, servers: ServerUrls, databases: DatabaseFactory) -> None:
        self.servers = servers
        self.databases = databases
        self.stack = AsyncExitStack()

    async def reset_nats(self) -> None:
        """Delete the CRM streams so each test sees only its own events and consumers."""
        nc = await nats.connect(self.servers.nats)
        try:
            js = nc.jetstream()
            for info in await js.streams_info():
                if info.config.name and info.config.name.startswith("CRM_"):
                    await js.delete_stream(info.config.name)
        finally:
            await nc.close()

    async def start(
        self,
        definition: ServiceDefinition,
        *,
        celery_worker: bool = False,
        wait_nats: bool = True,
        **overrides: Any,
    ) -> RunningService:
        database_url = await self.databases.fresh(definition)
        values: dict[str, Any] = {
            "env": "test",
            "database_url": database_url,
            "nats_url": self.servers.nats,
            "redis_url": self.servers.redis,
            "grpc_port": 0,
            "relay_idle_seconds": 0.02,
        }
        values.update(overrides)
        settings = definition.load_settings(**values)
        app = build_app(definition, settings)
        runtime: Runtime = app.state.runtime
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        await self._wait_ready(runtime, ready_nats=wait_nats)
        http = await self.stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        )
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{runtime.grpc_port}")
        self.stack.push_async_callback(channel.close)
        svc = RunningService(definition, app, runtime, http, channel, database_url, settings)
        if celery_worker:
            self._start_worker(definition, settings)
        return svc

    def _start_worker(self, definition: ServiceDefinition, settings: ServiceSettings) -> None:
        from celery.contrib.testing.worker import start_worker

        package = definition.settings_cls.__module__.split(".")[0]
        worker: Any = importlib.import_module(f"{package}.worker")
        worker.settings.database_url = settings.database_url
        worker.celery.conf.broker_url = settings.redis_url
        worker.celery.conf.result_backend = settings.redis_url
        # a queue of this test run's own, so parallel runs on one Redis never take each other's tasks
        queue = f"{definition.name}-test-{os.getpid()}"
        worker.celery.conf.task_default_queue = queue
        worker.celery.control.purge()  # tasks a previous test left behind belong to a dropped database
        ctx = start_worker(
            worker.celery,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=10,
            queues=[queue],
            loglevel="WARNING",
        )
        ctx.__enter__()
        self.stack.callback(ctx.__exit__, None, None, None)

    @staticmethod
    async def _wait_ready(runtime: Runtime, ready_nats: bool, timeout: float = 15.0) -> None:
        if not ready_nats:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while runtime.relay is None or runtime.nc is None or not runtime.nc.is_connected:
            if loop.time() > deadline:
                raise TimeoutError(f"{runtime.name} did not connect to NATS in {timeout}s")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        await self.stack.aclose()


async def eventually(predicate: Any, timeout: float = 5.0, interval: float = 0.05) -> Any:
    """Poll an async predicate until it returns a truthy value (used for cross-process effects)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {result!r})")
        await asyncio.sleep(interval)


@asynccontextmanager
async def serve_http(app: Any) -> AsyncIterator[str]:
    """Serve an (already started) app on a real loopback port with uvicorn; yields its base URL.
    For tools that need a socket (fuzzers, load generators) rather than the in-process ASGI client."""
    import uvicorn

    from crm_platform.embedded import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise RuntimeError("uvicorn did not start")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@contextmanager
def sql_log(engine: AsyncEngine, containing: str = "") -> Iterator[list[str]]:
    """The statements run through ``engine`` while the block runs, in order (those whose text holds
    ``containing``, compared without case and double quotes): those SQLAlchemy executes and those the
    hot paths run through asyncpg itself (:func:`crm_platform.db.driver_fetch`)."""
    seen: list[str] = []
    wanted = containing.upper()
    sync_engine = engine.sync_engine

    def keep(statement: str) -> None:
        if wanted in statement.upper().replace('"', ""):
            seen.append(statement)

    def sqlalchemy_statement(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        keep(statement)

    def driver_statement(on: Engine, statement: str) -> None:
        if on is sync_engine:
            keep(statement)

    event.listen(sync_engine, "before_cursor_execute", sqlalchemy_statement)
    DRIVER_STATEMENT_OBSERVERS.append(driver_statement)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", sqlalchemy_statement)
        DRIVER_STATEMENT_OBSERVERS.remove(driver_statement)
