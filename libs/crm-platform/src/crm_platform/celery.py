"""Celery app factory: JSON, acks_late, tasks named "<svc>.<verb_noun>", task outcome metrics."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

from celery import Celery
from celery.signals import task_failure, task_postrun, task_retry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_platform import observability as obs
from crm_platform.db import after_commit, create_engine, session_factory

T = TypeVar("T")
log = logging.getLogger(__name__)


def make_celery(service: str, broker_url: str, **overrides: Any) -> Celery:
    app = Celery(f"crm_{service}", broker=broker_url, backend=broker_url)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=service,
        broker_connection_retry_on_startup=True,
        result_expires=3600,
        timezone="UTC",
        enable_utc=True,
    )
    app.conf.update(overrides)

    def _label(sender: Any) -> str:
        return str(getattr(sender, "name", sender))

    @task_postrun.connect(weak=False)
    def _done(sender: Any = None, state: str | None = None, **_: Any) -> None:
        if _label(sender).startswith(f"{service}."):
            obs.CELERY_TASKS.labels(service, _label(sender), (state or "unknown").lower()).inc()

    @task_retry.connect(weak=False)
    def _retry(sender: Any = None, **_: Any) -> None:
        if _label(sender).startswith(f"{service}."):
            obs.CELERY_TASKS.labels(service, _label(sender), "retry").inc()

    @task_failure.connect(weak=False)
    def _failed(sender: Any = None, **_: Any) -> None:
        if _label(sender).startswith(f"{service}."):
            obs.CELERY_TASKS.labels(service, _label(sender), "failure_signal").inc()

    return app


# --- async work inside (sync) Celery tasks ----------------------------------------------------------
_loop: asyncio.AbstractEventLoop | None = None
_sessions: dict[str, async_sessionmaker[AsyncSession]] = {}


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on this worker process's own event loop (kept for the process's life)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
    return _loop.run_until_complete(coro)


def task_sessions(database_url: str) -> async_sessionmaker[AsyncSession]:
    """A session factory per database URL for task code, bound to the worker's loop."""
    if database_url not in _sessions:
        _sessions[database_url] = session_factory(create_engine(database_url, pool_size=2))
    return _sessions[database_url]


def enqueue_after_commit(session: AsyncSession, app: Celery, name: str, *args: Any, **kwargs: Any) -> None:
    """Send task ``name`` only once the caller's transaction commits (never for rolled-back work).

    A broker outage must not fail work that is already committed: the send is logged and the task's
    periodic sweep (every enqueued task has one) picks the record up later. Nobody waits for the
    result (``ignore_result``): otherwise the Redis result backend subscribes this process to every
    task's result channel, one subscription per task sent, never released.
    """

    def _send() -> None:
        try:
            queue = app.conf.task_default_queue
            app.send_task(name, args=args, kwargs=kwargs, queue=queue, ignore_result=True)
        except Exception as exc:
            log.warning("could not enqueue %s%r (%s); the periodic sweep will retry", name, args, exc)

    after_commit(session, _send)
