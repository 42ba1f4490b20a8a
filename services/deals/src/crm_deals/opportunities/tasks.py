"""Celery tasks of the opportunities domain: open their own session, idempotent."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_deals.opportunities.service import OpportunityService
from crm_deals.worker import celery, settings


async def _alert_stalled() -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        return await OpportunityService(session, settings.default_currency).alert_stalled()


@celery.task(name="deals.alert_stalled_opportunities", acks_late=True)
def alert_stalled_opportunities() -> int:
    """Emit crm.deals.opportunity.stalled for open opportunities past their stage limit (once per stage
    stint, again when a snooze ends); returns how many were alerted. Safe to run twice (SKIP LOCKED and
    the stalled_alerted_at mark)."""
    return run_async(_alert_stalled())
