"""Celery tasks of the invoices domain: open their own session, idempotent."""

from __future__ import annotations

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_billing.invoices.service import InvoiceService
from crm_billing.worker import celery, settings


async def _expire(ttl_days: int) -> int:
    async with transaction(task_sessions(settings.database_url)) as session:
        return len(await InvoiceService(session).expire_drafts(ttl_days))


@celery.task(name="billing.expire_draft_invoices", acks_late=True)
def expire_draft_invoices(ttl_days: int | None = None) -> int:
    """Void drafts untouched for the TTL; returns how many. Re-running voids nothing more."""
    return run_async(_expire(ttl_days or settings.draft_invoice_ttl_days))
