"""Coalesced wake-ups of the dispatcher: one ``notify.dispatch_messages`` task per burst of commits, not
one task per message.

A commit that queued messages calls ``after_commit(session)``. Once the transaction commits, the kick
tries ``SET <pending key> NX PX <ttl>`` in the broker's Redis and sends a dispatch task only when the key
was not there. The dispatcher deletes the key *before* each claim, so a message committed while the key
exists is always seen by a claim that starts later (by the task that set the key, or a newer one). In an
event loop (the app process) the kick runs as a task of that loop, so commits of the same tick share one
Redis round trip; without a running loop it runs inline.

A lost task (broker flushed) leaves the key until its TTL expires; the beat sweep (``notify.dispatch_due``)
sends a task regardless of the key, so nothing waits longer than one sweep period. Messages due later
(rule delays, retries, quiet hours) get a dispatch task with a countdown instead (``schedule``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import weakref

import redis
import redis.asyncio as aioredis
from crm_platform.db import after_commit as on_commit
from crm_platform.db import utcnow
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.worker import celery, settings

log = logging.getLogger(__name__)

DISPATCH_TASK = "notify.dispatch_messages"
PENDING_TTL_MS = 2000
# A countdown lands this much after the due time, so the claim that it starts finds the message due.
COUNTDOWN_SLACK = 0.05

_scheduled: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = (
    weakref.WeakKeyDictionary()
)
_sync_clients: dict[str, redis.Redis] = {}
_pending_tasks: set[asyncio.Task[None]] = set()


def pending_key() -> str:
    """One key per queue and database: test runs and deployments sharing a Redis never mix."""
    queue = celery.conf.task_default_queue
    db = hashlib.sha1(settings.database_url.encode()).hexdigest()[:12]
    return f"crm:notify:dispatch-pending:{queue}:{db}"


def _broker_url() -> str:
    return str(celery.conf.broker_url or settings.redis_url)


def _sync_client() -> redis.Redis:
    url = _broker_url()
    client = _sync_clients.get(url)
    if client is None:
        client = _sync_clients[url] = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    return client


def _async_client(loop: asyncio.AbstractEventLoop) -> aioredis.Redis:
    client = _async_clients.get(loop)
    if client is None:
        client = _async_clients[loop] = aioredis.Redis.from_url(
            _broker_url(), socket_timeout=1, socket_connect_timeout=1
        )
    return client


def _send(countdown: float | None = None) -> None:
    try:
        celery.send_task(  # nobody waits for it: no result-channel subscription per send
            DISPATCH_TASK, queue=celery.conf.task_default_queue, countdown=countdown, ignore_result=True
        )
    except Exception as exc:  # committed work must not fail; the beat sweep picks it up
        log.warning("could not enqueue %s (%s); the periodic sweep will retry", DISPATCH_TASK, exc)


def kick_sync(force: bool = False) -> bool:
    """Wake a dispatcher unless one is already pending; True when a task was sent."""
    if not force:
        try:
            if not _sync_client().set(pending_key(), "1", nx=True, px=PENDING_TTL_MS):
                return False
        except redis.RedisError as exc:
            log.warning("dispatch wake-up: Redis unavailable (%s); sending the task anyway", exc)
    _send()
    return True


async def _kick_async(loop: asyncio.AbstractEventLoop) -> None:
    _scheduled.discard(loop)  # commits from here on need a claim that starts after this point
    try:
        fresh = await _async_client(loop).set(pending_key(), "1", nx=True, px=PENDING_TTL_MS)
    except (redis.RedisError, OSError) as exc:
        log.warning("dispatch wake-up: Redis unavailable (%s); sending the task anyway", exc)
        fresh = True
    if fresh:
        _send()


def kick() -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        kick_sync()
        return
    if loop in _scheduled:
        return
    _scheduled.add(loop)
    task = loop.create_task(_kick_async(loop))
    _pending_tasks.add(task)
    task.add_done_callback(_pending_tasks.discard)


def clear_pending() -> None:
    """Called by the dispatcher right before it claims: later commits must wake a new dispatcher."""
    try:
        _sync_client().delete(pending_key())
    except redis.RedisError as exc:
        log.warning("dispatch wake-up: could not clear the pending key: %s", exc)


def schedule(when: dt.datetime | None) -> None:
    """A dispatch task at ``when`` when that is within the countdown limit (else the sweep's job)."""
    if when is None:
        return
    delay = max(0.0, (when - utcnow()).total_seconds())
    if delay <= settings.countdown_limit_seconds:
        _send(countdown=delay + COUNTDOWN_SLACK)


def after_commit(session: AsyncSession, when: dt.datetime | None = None) -> None:
    """Wake the dispatcher once the caller's transaction commits (never for rolled-back work); a message
    due in the future gets a countdown task for its due time instead."""

    def _on_commit() -> None:
        if when is not None and when > utcnow():
            schedule(when)
        else:
            kick()

    on_commit(session, _on_commit)
