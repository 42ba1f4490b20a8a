"""Periodic status automation: leads without contact for N days become forgotten."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_leads.automation.service import StatusService
from crm_leads.worker import celery, settings


async def _forget() -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        return await StatusService(session, settings.serious_prospect_closed_tasks).mark_forgotten(
            settings.forgotten_after_days
        )


@celery.task(name="leads.mark_forgotten_leads", acks_late=True)
def mark_forgotten_leads() -> int:
    """Idempotent: a lead already forgotten is no longer open, so it is not picked twice."""
    return run_async(_forget())
