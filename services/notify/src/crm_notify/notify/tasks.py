"""Celery tasks of the notify domain: open their own session, idempotent."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_notify.notify.service import ObservedEventService
from crm_notify.worker import celery, settings


async def _purge(days: int) -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        return await ObservedEventService(session).purge(days)


@celery.task(name="notify.purge_observed_events", acks_late=True)
def purge_observed_events(older_than_days: int | None = None) -> int:
    """Delete observed events past the retention period; re-running deletes nothing more."""
    return run_async(_purge(older_than_days or settings.observed_event_retention_days))
