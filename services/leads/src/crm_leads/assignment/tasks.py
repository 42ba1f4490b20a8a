"""Periodic assignment work: leads that waited (no rule matched, nobody available) are retried."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_leads.assignment.service import AssignmentService
from crm_leads.worker import celery, settings


async def _retry() -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        return await AssignmentService(session, settings.first_followup_minutes).retry_unassigned()


@celery.task(name="leads.assign_waiting_leads", acks_late=True)
def assign_waiting_leads() -> int:
    return run_async(_retry())
