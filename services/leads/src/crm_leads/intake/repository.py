"""All SQL of intake: lead sources, submissions (idempotency claims), import jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Select, cast, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import load_only

from crm_leads.intake.models import ImportJob, IntakeSubmission, LeadSource


class LeadSourceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, source: LeadSource) -> LeadSource:
        self.session.add(source)
        await self.session.flush()
        return source

    async def get(self, source_id: uuid.UUID) -> LeadSource | None:
        return await self.session.get(LeadSource, source_id)

    async def by_key_hash(self, key_hash: str) -> LeadSource | None:
        return await self.session.scalar(select(LeadSource).where(LeadSource.api_key_hash == key_hash))

    async def all(self) -> Sequence[LeadSource]:
        return (await self.session.scalars(select(LeadSource).order_by(LeadSource.created_at))).all()

    async def flush(self) -> None:
        await self.session.flush()


class SubmissionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, source_id: uuid.UUID, key: str, placeholder: uuid.UUID) -> bool:
        """Insert the (source, key) row; False when it exists. A concurrent insert of the same key blocks
        on the unique index until the first transaction ends, so exactly one claimer wins."""
        stmt = (
            pg_insert(IntakeSubmission)
            .values(source_id=source_id, idempotency_key=key, lead_id=placeholder)
            .on_conflict_do_nothing(index_elements=["source_id", "idempotency_key"])
            .returning(IntakeSubmission.lead_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def set_lead(self, source_id: uuid.UUID, key: str, lead_id: uuid.UUID) -> None:
        await self.session.execute(
            update(IntakeSubmission)
            .where(IntakeSubmission.source_id == source_id, IntakeSubmission.idempotency_key == key)
            .values(lead_id=lead_id)
        )

    async def lead_for(self, source_id: uuid.UUID, key: str) -> uuid.UUID | None:
        return await self.session.scalar(
            select(IntakeSubmission.lead_id).where(
                IntakeSubmission.source_id == source_id, IntakeSubmission.idempotency_key == key
            )
        )


_PROGRESS_COLUMNS = (
    ImportJob.status,
    ImportJob.filename,
    ImportJob.source,
    ImportJob.default_region,
    ImportJob.total,
    ImportJob.processed,
    ImportJob.imported,
    ImportJob.failed,
    ImportJob.created_by,
    ImportJob.team,
    ImportJob.created_at,
    ImportJob.started_at,
    ImportJob.finished_at,
)


class ImportJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, job: ImportJob) -> ImportJob:
        self.session.add(job)
        await self.session.flush()
        return job

    def _progress(self) -> Select[ImportJob]:
        # content (the whole file) and errors can be large: never loaded for progress reads.
        return select(ImportJob).options(load_only(*_PROGRESS_COLUMNS))

    async def get_progress(self, job_id: uuid.UUID) -> ImportJob | None:
        return await self.session.scalar(
            self._progress().where(ImportJob.id == job_id).execution_options(populate_existing=True)
        )

    async def lock_progress(self, job_id: uuid.UUID) -> ImportJob | None:
        """The job's progress row, locked until the caller's transaction ends (serialises chunks)."""
        return await self.session.scalar(
            self._progress()
            .where(ImportJob.id == job_id)
            .with_for_update(of=ImportJob)
            .execution_options(populate_existing=True)
        )

    async def content(self, job_id: uuid.UUID) -> str | None:
        return await self.session.scalar(select(ImportJob.content).where(ImportJob.id == job_id))

    async def errors(self, job_id: uuid.UUID, limit: int | None) -> list[dict[str, Any]]:
        column: Any = ImportJob.errors
        if limit is not None:
            path = cast(literal(f"$[0 to {max(0, limit - 1)}]"), JSONPATH)
            column = func.jsonb_path_query_array(ImportJob.errors, path, type_=JSONB)
        value = await self.session.scalar(select(column).where(ImportJob.id == job_id))
        return list(value or [])

    async def list_visible(self, created_by: str | None, team: str | None, limit: int) -> Sequence[ImportJob]:
        stmt = self._progress().order_by(ImportJob.created_at.desc()).limit(limit)
        if created_by is not None and team is not None:
            stmt = stmt.where((ImportJob.created_by == created_by) | (ImportJob.team == team))
        elif created_by is not None:
            stmt = stmt.where(ImportJob.created_by == created_by)
        return (await self.session.scalars(stmt)).all()

    async def start(self, job_id: uuid.UUID, total: int, when: dt.datetime) -> None:
        await self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id, ImportJob.status == "queued")
            .values(status="running", total=total, started_at=when)
        )

    async def record_chunk(
        self,
        job_id: uuid.UUID,
        *,
        processed: int,
        imported: int,
        errors: list[dict[str, Any]],
    ) -> None:
        """Advance progress; called in the same transaction as the chunk's leads."""
        values: dict[str, Any] = {
            "processed": processed,
            "imported": ImportJob.imported + imported,
            "failed": ImportJob.failed + len(errors),
        }
        if errors:
            values["errors"] = ImportJob.errors.op("||")(cast(literal(errors, JSONB), JSONB))
        await self.session.execute(update(ImportJob).where(ImportJob.id == job_id).values(**values))

    async def add_job_error(self, job_id: uuid.UUID, error: dict[str, Any]) -> None:
        """An error about the whole job (not a row): listed with the row errors, not counted as a row."""
        await self.session.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(errors=ImportJob.errors.op("||")(cast(literal([error], JSONB), JSONB)))
        )

    async def finish(self, job_id: uuid.UUID, status: str, when: dt.datetime) -> None:
        await self.session.execute(
            update(ImportJob).where(ImportJob.id == job_id).values(status=status, finished_at=when)
        )

    async def stuck_queued(self, older_than: dt.datetime, limit: int = 100) -> list[uuid.UUID]:
        stmt = (
            select(ImportJob.id)
            .where(ImportJob.status == "queued", ImportJob.created_at < older_than)
            .order_by(ImportJob.created_at)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())


@asynccontextmanager
async def import_run_lock(engine: AsyncEngine, job_id: uuid.UUID) -> AsyncIterator[bool]:
    """A session-level advisory lock on the job, held on its own (idle, not in-transaction) connection
    while one worker runs the import; other copies of the task see False and leave. It is released at
    the end of the block, or by PostgreSQL when the connection dies with its worker."""
    key = int.from_bytes(job_id.bytes[8:], "big", signed=True)  # the random half of the UUIDv7
    async with engine.connect() as conn:
        got = bool(await conn.scalar(select(func.pg_try_advisory_lock(key))))
        await conn.commit()
        try:
            yield got
        finally:
            if got:
                await conn.scalar(select(func.pg_advisory_unlock(key)))
                await conn.commit()
