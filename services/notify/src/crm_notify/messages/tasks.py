"""Celery tasks of message delivery: take ids, open their own sessions, idempotent (messages are claimed
under row locks with SKIP LOCKED and only from a dispatchable status), acks_late.

* ``notify.dispatch_messages``: the dispatcher. Each round clears the wake-up key, claims up to
  ``dispatch_batch_size`` due messages in one transaction (send-time consent / quiet-hours checks
  included), sends them concurrently (at most ``dispatch_concurrency`` provider calls in flight; SMTP
  connections are pooled per provider) and records every outcome, status change and outbox event in one
  more transaction. Rounds repeat while full batches come back (up to ``dispatch_max_seconds``); a full
  batch also wakes a second dispatcher, so every worker process helps with a backlog. Retries and
  deferrals get one countdown task at their earliest due time.
* ``notify.deliver_message``: tasks enqueued before the batch dispatcher existed; runs the dispatcher.
* ``notify.dispatch_due`` (beat): releases messages a dead worker left in "sending" and wakes a
  dispatcher when anything is due (delays beyond the countdown limit, lost tasks).
* ``notify.poll_receipts`` (beat): asks fax providers (HylaFAX, HTTP fax) how their jobs ended.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction, utcnow

from crm_notify.messages import delivery, wakeup
from crm_notify.messages.service import (
    DELIVER_TASK,
    AttemptResult,
    Claim,
    DispatchService,
    MessageService,
    Outcome,
)
from crm_notify.providers.ratelimit import ProviderRateLimiter
from crm_notify.providers.registry import adapter_for
from crm_notify.providers.repository import ProviderRepository
from crm_notify.worker import celery, settings

log = logging.getLogger(__name__)

POLLING_KINDS = ("hylafax", "http_fax")
_limiter: ProviderRateLimiter | None = None


def _rate_limiter() -> ProviderRateLimiter:
    global _limiter
    if _limiter is None:
        _limiter = ProviderRateLimiter(settings.redis_url)
    return _limiter


async def _send_all(claims: list[Claim]) -> list[Outcome]:
    gate = asyncio.Semaphore(settings.dispatch_concurrency)
    limiter = _rate_limiter()

    async def one(claim: Claim) -> Outcome:
        async with gate:
            started = utcnow()
            try:
                return await delivery.attempt(
                    claim, limiter, settings.attachment_max_bytes, settings.http_timeout_seconds
                )
            except Exception as exc:  # a bug in one adapter must not lose the outcomes of the others
                log.exception("dispatch of message %s failed unexpectedly", claim.message_id)
                detail = f"{type(exc).__name__}: {exc}"
                attempt = AttemptResult("dispatcher", "transient", "error", detail, started)
                return Outcome("transient", [attempt])

    return list(await asyncio.gather(*(one(c) for c in claims)))


async def dispatch(batch_size: int | None = None, max_seconds: float | None = None) -> dict[str, int]:
    """Dispatch rounds until no full batch comes back; returns how many messages ended in which status."""
    sessions = task_sessions(settings.database_url)
    size = batch_size or settings.dispatch_batch_size
    deadline = time.monotonic() + (max_seconds if max_seconds is not None else settings.dispatch_max_seconds)
    counts: dict[str, int] = {}
    later: list[dt.datetime] = []
    while True:
        wakeup.clear_pending()
        async with transaction(sessions) as session:
            batch = await DispatchService(session).claim_batch(utcnow(), size)
        for status, n in batch.settled.items():
            counts[status] = counts.get(status, 0) + n
        later.extend(batch.later)
        full = batch.locked >= size
        if full:
            wakeup.kick_sync()  # a backlog: let another worker process claim the next batch meanwhile
        if batch.claims:
            outcomes = await _send_all(batch.claims)
            async with transaction(sessions) as session:
                results = await DispatchService(session).record_batch(
                    list(zip(batch.claims, outcomes, strict=True)), utcnow()
                )
            for status, when in results:
                counts[status] = counts.get(status, 0) + 1
                if when is not None:
                    later.append(when)
        if not full or time.monotonic() > deadline:
            break
    if later:
        wakeup.schedule(min(later))
    return counts


@celery.task(name=wakeup.DISPATCH_TASK, acks_late=True, ignore_result=True)
def dispatch_messages() -> dict[str, int]:
    """One dispatcher run (see the module docstring); returns message counts per resulting status."""
    return run_async(dispatch())


@celery.task(name=DELIVER_TASK, acks_late=True, ignore_result=True)
def deliver_message(message_id: str) -> dict[str, int]:
    """Compatibility: a per-message task from before the batch dispatcher; dispatches whatever is due."""
    uuid.UUID(message_id)
    return run_async(dispatch())


async def _sweep() -> tuple[int, bool]:
    async with transaction(task_sessions(settings.database_url)) as session:
        service = DispatchService(session)
        released = await service.release_stale(utcnow(), dt.timedelta(seconds=settings.sending_lease_seconds))
        due = await service.has_due(utcnow())
    return len(released), due


@celery.task(name="notify.dispatch_due", acks_late=True)
def dispatch_due() -> dict[str, int | bool]:
    released, due = run_async(_sweep())
    if due:
        wakeup.kick_sync(force=True)  # regardless of the wake-up key: its task may have been lost
    return {"released": released, "due": due}


async def _poll(limit: int = 200) -> dict[str, int]:
    sessions = task_sessions(settings.database_url)
    async with sessions() as session:
        providers = [
            p for p in await ProviderRepository(session).search(channel="fax") if p.kind in POLLING_KINDS
        ]
        by_name = {p.name: p for p in providers}
        messages = await DispatchService(session).awaiting_receipts(
            list(by_name), utcnow() - dt.timedelta(days=3), limit
        )
        work = [(m.provider or "", list(m.provider_message_ids)) for m in messages]
    counts: dict[str, int] = {}
    for provider_name, ids in work:
        p = by_name[provider_name]
        adapter = await adapter_for(p.name, p.kind, dict(p.config), p.updated_at)
        for provider_message_id in ids:
            try:
                receipt = await adapter.status(provider_message_id)  # type: ignore[attr-defined]
            except Exception as exc:
                log.info("fax status of %s/%s: %s", provider_name, provider_message_id, exc)
                continue
            async with transaction(sessions) as session:
                outcome = await MessageService(session).apply_receipt(provider_name, receipt)
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@celery.task(name="notify.poll_receipts", acks_late=True)
def poll_receipts() -> dict[str, int]:
    return run_async(_poll())
