"""Celery tasks of lead conversion: open their own transactions, idempotent."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction
from crm_platform.errors import DomainError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.conversion.service import ConversionCoordinator, ConversionService
from crm_leads.worker import celery, settings

log = logging.getLogger(__name__)


@asynccontextmanager
async def _transaction() -> AsyncIterator[AsyncSession]:
    async with transaction(task_sessions(settings.database_url)) as session:
        yield session


async def _resume(limit: int) -> int:
    async with _transaction() as session:
        ids = await ConversionService(session).resumable(limit)
    done = 0
    coordinator = ConversionCoordinator(_transaction, settings)
    for conversion_id in ids:
        try:
            if await coordinator.resume(conversion_id) is not None:
                done += 1
        except DomainError as exc:  # recorded on the conversion by the coordinator
            log.warning("conversion %s not resumed: %s", conversion_id, exc.detail)
    return done


@celery.task(name="leads.resume_conversions", acks_late=True)
def resume_conversions(limit: int = 100) -> int:
    """Retry pending conversions whose last attempt got no answer from deals (same conversion id, so deals
    returns what it already created or creates it once). Returns how many completed."""
    return run_async(_resume(limit))
