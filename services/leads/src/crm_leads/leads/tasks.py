"""Celery tasks of the leads domain: take ids, open their own session, idempotent."""

from __future__ import annotations

import uuid

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_leads.leads.service import LeadService
from crm_leads.worker import celery, settings


async def _score(lead_ids: list[str]) -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        service = LeadService(session)
        return sum([await service.score(uuid.UUID(x)) is not None for x in lead_ids])


async def _score_pending() -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        service = LeadService(session)
        ids = await service.unscored_ids()
        for lead_id in ids:
            await service.score(lead_id)
        return len(ids)


@celery.task(name="leads.score_leads", acks_late=True, autoretry_for=(OSError,), retry_backoff=True)
def score_leads(lead_ids: list[str]) -> int:
    """Compute the completeness score (0-100) of the leads of one intake; re-running gives the same result."""
    return run_async(_score(lead_ids))


@celery.task(name="leads.score_pending_leads", acks_late=True)
def score_pending_leads() -> int:
    """Sweep for leads whose score task was never run (e.g. broker was down at intake)."""
    return run_async(_score_pending())
