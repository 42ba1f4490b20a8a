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


_id_batches: dict[tuple[int, str], list[Any]] = {}
_flushes: set[asyncio.Task[None]] = set()


def enqueue_ids_after_commit(
    session: AsyncSession, app: Celery, name: str, ids: list[Any], *, delay: float = 0.05
) -> None:
    """:func:`enqueue_after_commit` for a task whose one argument is a list of ids, under load:
    the ids of every transaction that commits within ``delay`` seconds go out as ONE task, sent from
    a worker thread, so many small transactions (group commits of single creates) neither pay a
    broker round trip each nor block the event loop with it. Outside an event loop the task is sent
    at once. Ids whose send is lost (broker down, process stopped within ``delay``) are left to the
    task's periodic sweep, as with :func:`enqueue_after_commit`."""

    def _add() -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _send_now(app, name, ids)
            return
        key = (id(app), name)
        pending = _id_batches.get(key)
        if pending is None:
            _id_batches[key] = pending = []
            loop.call_later(delay, _start_flush, loop, app, name, key)
        pending.extend(ids)

    after_commit(session, _add)


def _start_flush(loop: asyncio.AbstractEventLoop, app: Celery, name: str, key: tuple[int, str]) -> None:
    ids = _id_batches.pop(key, [])
    task = loop.create_task(asyncio.to_thread(_send_now, app, name, ids))
    _flushes.add(task)
    task.add_done_callback(_flushes.discard)


def _send_now(app: Celery, name: str, ids: list[Any]) -> None:
    try:
        app.send_task(name, args=(ids,), queue=app.conf.task_default_queue, ignore_result=True)
    except Exception as exc:
        log.warning("could not enqueue %s for %d ids (%s); the sweep will retry", name, len(ids), exc)
