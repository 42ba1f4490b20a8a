"""Celery tasks of the leads domain: open their own session, idempotent."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_leads.leads.service import LeadService
from crm_leads.worker import celery, settings


async def _score_pending() -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        service = LeadService(session)
        ids = await service.unscored_ids()
        for lead_id in ids:
            await service.score(lead_id)
        return len(ids)


@celery.task(name="leads.score_pending_leads", acks_late=True)
def score_pending_leads() -> int:
    """Score leads stored without a score (bulk SQL, rows from before scores were computed at write time)."""
    return run_async(_score_pending())
