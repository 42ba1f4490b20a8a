"""Service runtime: one object that owns the engine, NATS, the relay, consumers and the gRPC server,
and the FastAPI lifespan that starts and stops them in order. Each service only declares itself."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crm_platform import grpc as platform_grpc
from crm_platform import observability as obs
from crm_platform.auth import TokenVerifier
from crm_platform.batching import GroupCommit
from crm_platform.db import create_engine, session_factory, transaction
from crm_platform.grpc_client import close_clients
from crm_platform.http import create_app
from crm_platform.inbox import Consumer, Subscription
from crm_platform.nats import connect, ensure_stream
from crm_platform.outbox import OutboxRelay
from crm_platform.repository import OUTBOX_WRITTEN
from crm_platform.settings import ServiceSettings
from crm_platform.tables import PlatformTables

log = logging.getLogger(__name__)


@dataclass
class ServiceDefinition:
    """What a service is made of; the platform does the wiring."""

    name: str
    settings_cls: type[ServiceSettings]
    tables: PlatformTables
    service_root: Path  # services/<svc>, holding alembic.ini and migrations/
    routers: Sequence[APIRouter] = ()
    grpc: Sequence[Callable[[Runtime], platform_grpc.Registration]] = ()
    subscriptions: Sequence[Subscription[Any]] = ()
    produces_events: bool = True
    title: str = ""

    def load_settings(self, **overrides: Any) -> ServiceSettings:
        settings = self.settings_cls(**overrides)
        settings.service_name = self.name
        return settings


@dataclass
class Runtime:
    definition: ServiceDefinition
    settings: ServiceSettings
    engine: AsyncEngine = field(init=False)
    sessions: async_sessionmaker[AsyncSession] = field(init=False)
    verifier: TokenVerifier = field(init=False)
    nc: Client | None = None
    js: JetStreamContext | None = None
    relay: OutboxRelay | None = None
    consumers: list[Consumer] = field(default_factory=list)
    grpc_port: int = 0
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _grpc_server: Any = None
    _health: Any = None
    group_commits: dict[str, GroupCommit[Any, Any, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.engine = create_engine(
            self.settings.database_url,
            pool_size=self.settings.database_pool_size,
            pre_ping=self.settings.database_pool_pre_ping,
        )
        self.sessions = session_factory(self.engine)
        self.verifier = TokenVerifier(self.settings)

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def tables(self) -> PlatformTables:
        return self.definition.tables

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """The edge's transaction: commit on success, then wake the relay if it wrote events."""
        async with transaction(self.sessions) as session:
            yield session
        if self.relay is not None and session.info.get(OUTBOX_WRITTEN):
            self.relay.kick()

    def group_commit(
        self, name: str, run: Callable[[Any, Sequence[Any]], Any], **options: Any
    ) -> GroupCommit[Any, Any, Any]:
        """The process's :class:`GroupCommit` called ``name`` (made on first use with ``run``); its
        running batches finish before the engine is disposed at stop."""
        committer = self.group_commits.get(name)
        if committer is None:
            committer = GroupCommit(run, name=f"{self.name}.{name}", **options)
            self.group_commits[name] = committer
        return committer

    # --- lifecycle -------------------------------------------------------------------------------
    async def start(self, *, grpc: bool = True, background: bool = True) -> None:
        if grpc and self.definition.grpc:
            regs = [factory(self) for factory in self.definition.grpc]
            self._grpc_server, self._health, self.grpc_port = platform_grpc.build_server(
                self.name, self.verifier, regs, self.settings.grpc_port, self.settings.grpc_host
            )
            await self._grpc_server.start()
            await platform_grpc.set_serving(self._health, [r[2] for r in regs], False)
            self._service_names = [r[2] for r in regs]
        if background:
            self._tasks.append(asyncio.create_task(self._connect_and_run(), name=f"{self.name}-nats"))
        else:
            await self._connect_nats()

    async def _connect_nats(self) -> None:
        self.nc = await connect(self.settings.nats_url, f"crm-{self.name}")
        self.js = self.nc.jetstream()
        if self.definition.produces_events:
            await ensure_stream(self.js, self.name)
        js = self.js

        async def restore_stream() -> None:  # someone deleted it: the relay puts it back and goes on
            await ensure_stream(js, self.name)

        self.relay = OutboxRelay(
            self.name,
            self.sessions,
            self.tables,
            self.js,
            batch_size=self.settings.relay_batch_size,
            idle_seconds=self.settings.relay_idle_seconds,
            retention=(
                dt.timedelta(hours=self.settings.outbox_retention_hours)
                if self.settings.outbox_retention_hours
                else None
            ),
            on_missing_stream=restore_stream if self.definition.produces_events else None,
        )
        self.consumers = [
            Consumer(self.name, sub, self.sessions, self.tables, self.js)
            for sub in self.definition.subscriptions
        ]
        for consumer in self.consumers:
            await ensure_stream(self.js, consumer.sub.stream.removeprefix("CRM_").lower())
            await consumer.subscribe()

    async def _connect_and_run(self) -> None:
        delay = 0.5
        while True:
            try:
                await self._connect_nats()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: NATS not ready (%s); retrying in %.1fs", self.name, exc, delay)
                if self.nc is not None:
                    await self._close_nats()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        assert self.relay is not None
        self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        for consumer in self.consumers:
            self._tasks.append(
                asyncio.create_task(consumer.run(), name=f"{self.name}-{consumer.sub.durable}")
            )
        if self._health is not None:
            await platform_grpc.set_serving(self._health, self._service_names, True)

    async def _close_nats(self) -> None:
        try:
            if self.nc is not None and not self.nc.is_closed:
                await self.nc.close()
        except Exception as exc:
            log.debug("nats close: %s", exc)
        self.nc = None
        self.js = None

    async def stop(self) -> None:
        if self._health is not None:
            await self._health.enter_graceful_shutdown()
        if self.relay is not None:
            self.relay.stop()
        for consumer in self.consumers:
            consumer.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._grpc_server is not None:
            await self._grpc_server.stop(grace=5)
        for committer in self.group_commits.values():
            await committer.aclose()
        await self._close_nats()
        await close_clients()
        await self.engine.dispose()

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            async with self.sessions() as session:
                await session.execute(text("SELECT 1"))
                checks["database"] = "ok"
                from crm_platform.migrations import current_and_head

                current, head = await current_and_head(session, self.definition.service_root)
                checks["schema"] = "ok" if current == head else f"at {current}, head is {head}"
        except Exception as exc:
            checks.setdefault("database", f"error: {type(exc).__name__}")
            checks.setdefault("schema", "unknown")
        checks["nats"] = (
            "ok" if self.nc is not None and self.nc.is_connected and self.relay else "disconnected"
        )
        return checks


def build_app(definition: ServiceDefinition, settings: ServiceSettings | None = None) -> FastAPI:
    settings = settings or definition.load_settings()
    obs.configure_tracing(definition.name, settings.otel_exporter)
    runtime = Runtime(definition, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = create_app(runtime, lifespan, definition.title or f"CRM {definition.name} service")
    for router in definition.routers:
        app.include_router(router)
    return app
