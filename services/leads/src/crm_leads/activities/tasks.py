"""Celery tasks of the activities domain: open their own session, idempotent."""

from __future__ import annotations

import logging

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction, utcnow

from crm_leads.activities.service import ActivityService
from crm_leads.worker import celery, settings

log = logging.getLogger(__name__)

REMINDER_BATCH = 500
MAX_BATCHES_PER_RUN = 20


async def _send_due_reminders(batch: int = REMINDER_BATCH, max_batches: int = MAX_BATCHES_PER_RUN) -> int:
    """Each batch is its own transaction: claimed reminders and their outbox events commit together."""
    now = utcnow()
    emitted_total = 0
    for _ in range(max_batches):
        async with transaction(task_sessions(settings.database_url)) as session:
            claimed, emitted = await ActivityService(session).send_due_reminders(now, batch)
        emitted_total += emitted
        if claimed < batch:
            break
    return emitted_total


@celery.task(name="leads.send_due_reminders", acks_late=True)
def send_due_reminders() -> int:
    """Mark due task/event reminders sent (each exactly once) and emit crm.leads.activity.reminder_due;
    a re-run or a racing worker finds nothing left to claim. Returns the number of events written."""
    return run_async(_send_due_reminders())
