"""Celery tasks of the reports domain: open their own session, idempotent."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_deals.reports.service import ReportService
from crm_deals.worker import celery, settings


async def _snapshot() -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        return await ReportService(session).take_snapshot()


@celery.task(name="deals.snapshot_forecast", acks_late=True)
def snapshot_forecast() -> int:
    """Store today's forecast (per pipeline, owner, team, close month, currency); re-running on the same
    day replaces that day's rows. Returns the number of rows stored."""
    return run_async(_snapshot())
