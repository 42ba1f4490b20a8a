"""Celery tasks of intake: run a CSV import in chunks; sweep imports the broker never delivered.

``leads.run_import`` is safe to run twice, even at the same time: each chunk is one transaction that
locks the job row, reads ``processed``, imports the next rows and advances ``processed`` in the same
commit. A re-delivered task (acks_late, worker lost) resumes where the last committed chunk ended. An advisory
lock per job lets only one copy run at a time; a copy that finds it taken returns "busy" at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from crm_platform.celery import run_async, task_sessions
from crm_platform.db import transaction, utcnow
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_leads.intake.csvfile import CsvProblem, parse
from crm_leads.intake.repository import ImportJobRepository, import_run_lock
from crm_leads.intake.service import ImportService, is_transient
from crm_leads.leads.service import LeadService
from crm_leads.worker import celery, settings

log = logging.getLogger(__name__)

CHUNK_ROWS = 500
STUCK_AFTER = dt.timedelta(minutes=2)
MAX_RETRIES = 20


def _leads(session: AsyncSession) -> LeadService:
    return LeadService(
        session,
        settings.default_phone_region,
        followup_minutes=settings.first_followup_minutes,
        serious_prospect_closed_tasks=settings.serious_prospect_closed_tasks,
    )


async def _fail(job_id: uuid.UUID, reason: str) -> None:
    async with transaction(task_sessions(settings.database_url)) as session:
        repo = ImportJobRepository(session)
        job = await repo.lock_progress(job_id)
        if job is not None and job.status in ("queued", "running"):
            await repo.add_job_error(job_id, {"row": None, "errors": {"job": reason}})
            await repo.finish(job_id, "failed", utcnow())


async def _run_import(job_id: uuid.UUID, chunk_rows: int = CHUNK_ROWS) -> dict[str, Any]:
    sessions = task_sessions(settings.database_url)
    async with import_run_lock(sessions.kw["bind"], job_id) as mine:
        if not mine:  # another copy of the task (re-delivery, sweep) is running this job right now
            return {"job": str(job_id), "status": "busy"}
        return await _run_locked(sessions, job_id, chunk_rows)


async def _run_locked(
    sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID, chunk_rows: int
) -> dict[str, Any]:
    async with transaction(sessions) as session:
        repo = ImportJobRepository(session)
        job = await repo.get_progress(job_id)
        if job is None or job.status in ("completed", "failed"):
            return {"job": str(job_id), "status": job.status if job else "missing"}
        content = await repo.content(job_id) or ""
    try:
        table = parse(content)
    except CsvProblem as exc:  # validated at upload, so only a corrupted row gets here
        await _fail(job_id, str(exc))
        return {"job": str(job_id), "status": "failed"}
    async with transaction(sessions) as session:
        await ImportJobRepository(session).start(job_id, len(table.records), utcnow())
    while True:
        # One chunk per transaction; the job row lock also serialises chunks should two runners ever
        # overlap (the advisory lock makes that rare), and progress commits with the chunk's leads.
        async with transaction(sessions) as session:
            repo = ImportJobRepository(session)
            job = await repo.lock_progress(job_id)
            if job is None or job.status != "running":
                return {"job": str(job_id), "status": job.status if job else "missing"}
            start = job.processed
            chunk = table.records[start : start + chunk_rows]
            if not chunk:
                await repo.finish(job_id, "completed", utcnow())
                return {
                    "job": str(job_id),
                    "status": "completed",
                    "imported": job.imported,
                    "failed": job.failed,
                }
            result = await ImportService(session, _leads(session)).import_chunk(job, table, chunk)
            await repo.record_chunk(
                job_id, processed=start + len(chunk), imported=result.imported, errors=result.errors
            )


async def _stuck(older_than: dt.datetime) -> list[uuid.UUID]:
    async with transaction(task_sessions(settings.database_url)) as session:
        return await ImportJobRepository(session).stuck_queued(older_than)


@celery.task(name="leads.run_import", bind=True, acks_late=True, max_retries=MAX_RETRIES)
def run_import(self: Any, job_id: str) -> dict[str, Any]:
    """Import a CSV job's rows in chunks of CHUNK_ROWS, each atomic with its progress update.
    Transient database errors retry with backoff (resuming at the last committed chunk); anything else,
    or running out of retries, marks the job failed with the reason."""
    try:
        return run_async(_run_import(uuid.UUID(job_id)))
    except Exception as exc:
        if is_transient(exc) and self.request.retries < self.max_retries:
            raise self.retry(exc=exc, countdown=min(300, 2**self.request.retries)) from exc
        log.exception("import %s failed", job_id)
        run_async(_fail(uuid.UUID(job_id), f"import stopped: {type(exc).__name__}; rows before it are kept"))
        raise


@celery.task(name="leads.sweep_imports", acks_late=True)
def sweep_imports() -> list[str]:
    """Re-enqueue imports still queued after STUCK_AFTER (the broker was down when they were created).
    A job that is merely waiting in a long queue gets a second task, which finds it done: harmless."""
    ids = [str(i) for i in run_async(_stuck(utcnow() - STUCK_AFTER))]
    for job_id in ids:
        run_import.apply_async(args=[job_id], queue=celery.conf.task_default_queue)
    return ids
