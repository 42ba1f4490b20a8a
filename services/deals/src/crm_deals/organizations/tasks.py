"""Celery tasks of the organizations domain: open their own session, idempotent."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_deals.organizations.service import OrganizationService
from crm_deals.worker import celery, settings


async def _link_contacts() -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        return len(await OrganizationService(session).link_contacts_by_domain())


@celery.task(name="deals.link_contacts_by_domain", acks_late=True)
def link_contacts_by_domain() -> int:
    """Link contacts without an organization to the one organization of their team that has their
    e-mail domain; returns how many were linked. Linked contacts are skipped on the next run."""
    return run_async(_link_contacts())
