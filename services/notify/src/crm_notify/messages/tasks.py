"""Celery tasks of message delivery: take ids, open their own sessions, idempotent (a message is claimed
under a row lock and only from a dispatchable status), acks_late.

* ``notify.deliver_message``: one attempt; schedules the next one itself when it is due soon, else the
  sweep picks it up.
* ``notify.dispatch_due`` (beat): delayed, deferred and retrying messages that are due, messages whose
  task was lost (broker down at enqueue time) and messages a dead worker left in "sending".
* ``notify.poll_receipts`` (beat): asks fax providers (HylaFAX, HTTP fax) how their jobs ended.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction, utcnow

from crm_notify.messages import delivery
from crm_notify.messages.service import DELIVER_TASK, DispatchService, MessageService
from crm_notify.providers.ratelimit import ProviderRateLimiter
from crm_notify.providers.registry import adapter_for
from crm_notify.providers.repository import ProviderRepository
from crm_notify.worker import celery, settings

log = logging.getLogger(__name__)

SWEEP_GRACE = dt.timedelta(seconds=20)
POLLING_KINDS = ("hylafax", "http_fax")
_limiter: ProviderRateLimiter | None = None


def _rate_limiter() -> ProviderRateLimiter:
    global _limiter
    if _limiter is None:
        _limiter = ProviderRateLimiter(settings.redis_url)
    return _limiter


def _schedule(message_id: str, when: dt.datetime | None) -> None:
    if when is None:
        return
    delay = max(0.0, (when - utcnow()).total_seconds())
    if delay <= settings.countdown_limit_seconds:
        deliver_message.apply_async(args=[message_id], countdown=delay, queue=celery.conf.task_default_queue)


async def _deliver(message_id: uuid.UUID) -> str:
    sessions = task_sessions(settings.database_url)
    async with transaction(sessions) as session:
        claim = await DispatchService(session).claim(message_id, utcnow())
    if isinstance(claim, tuple):
        status, when = claim
        if status == "later":
            _schedule(str(message_id), when)
        return status
    outcome = await delivery.attempt(
        claim, _rate_limiter(), settings.attachment_max_bytes, settings.http_timeout_seconds
    )
    async with transaction(sessions) as session:
        status, when = await DispatchService(session).record(claim, outcome, utcnow())
    _schedule(str(message_id), when)
    return status


@celery.task(name=DELIVER_TASK, acks_late=True)
def deliver_message(message_id: str) -> str:
    """One delivery attempt of one message; returns the status it left the message in."""
    return run_async(_deliver(uuid.UUID(message_id)))


async def _sweep() -> list[str]:
    async with transaction(task_sessions(settings.database_url)) as session:
        ids = await DispatchService(session).sweep(
            utcnow(), SWEEP_GRACE, dt.timedelta(seconds=settings.sending_lease_seconds), 500
        )
    return [str(i) for i in ids]


@celery.task(name="notify.dispatch_due", acks_late=True)
def dispatch_due() -> list[str]:
    ids = run_async(_sweep())
    for message_id in ids:
        deliver_message.apply_async(args=[message_id], queue=celery.conf.task_default_queue)
    return ids


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
