"""Celery tasks of the phonebook: open their own sessions, idempotent."""

from __future__ import annotations

import uuid

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction

from crm_telephony.phonebook.service import PhoneIndexService
from crm_telephony.worker import celery, settings


async def _normalise_index(page_size: int) -> int:
    changed = 0
    after: uuid.UUID | None = None
    while True:
        async with transaction(task_sessions(settings.database_url)) as session:
            page = await PhoneIndexService(session).renormalise_page(after, page_size)
        changed += page.changed
        if page.last_id is None:
            return changed
        after = page.last_id


@celery.task(name="telephony.normalise_index", acks_late=True)
def normalise_index(page_size: int = 500) -> int:
    """Re-key every indexed number to its canonical E.164, one page per transaction; returns how many
    rows changed. Running it again changes nothing."""
    return run_async(_normalise_index(page_size))
