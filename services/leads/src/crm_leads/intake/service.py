"""Intake business logic: lead sources and their keys, public form submissions (idempotent), CSV
import jobs (validated per row, imported in chunks). Flushes, never commits: the edge owns the transaction.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from crm_platform.auth import Principal
from crm_platform.celery import enqueue_after_commit
from crm_platform.contact_points import normalise_phone
from crm_platform.errors import Conflict, ValidationFailed
from crm_platform.ids import new_id
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.intake import fields as f
from crm_leads.intake.csvfile import CsvProblem, CsvTable, decode, parse
from crm_leads.intake.events import CHANNEL_CSV
from crm_leads.intake.exceptions import (
    ImportJobNotFound,
    IntakeEndpointNotFound,
    LeadSourceNotFound,
    OriginNotAllowed,
    PayloadTooLarge,
)
from crm_leads.intake.models import ImportJob, LeadSource
from crm_leads.intake.repository import ImportJobRepository, LeadSourceRepository, SubmissionRepository
from crm_leads.intake.schemas import LeadSourceCreate, LeadSourceUpdate
from crm_leads.leads.schemas import LeadCreate
from crm_leads.leads.service import LeadService
from crm_leads.worker import celery

log = logging.getLogger(__name__)

KEY_PREFIX = "lsk_"
MAX_IMPORT_BYTES = 20 * 1024 * 1024
IMPORT_ERRORS_SHOWN = 1000
INTAKE = Counter(
    "crm_leads_intake_submissions_total",
    "Public intake submissions by source kind and outcome",
    ["kind", "outcome"],
)
IMPORT_ROWS = Counter("crm_leads_import_rows_total", "CSV import rows by outcome", ["outcome"])


# --- keys and origins ----------------------------------------------------------------------------------
def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(api_key: str) -> str:
    """API keys carry 256 random bits, so a fast hash suffices (no password stretching needed)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def key_looks_valid(api_key: str) -> bool:
    return 16 <= len(api_key) <= 200 and re.fullmatch(r"[A-Za-z0-9_\-]+", api_key) is not None


def normalise_origin(raw: str) -> str:
    """``scheme://host[:port]`` as browsers send it (lower-case, punycode host, default port dropped)."""
    text = raw.strip()
    if text == "*":
        return "*"
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("an origin is scheme://host[:port] with scheme http or https")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("an origin has no path, query, fragment or credentials")
    try:
        host = parts.hostname.encode("idna").decode("ascii").lower()
        port = parts.port
    except (UnicodeError, ValueError):
        raise ValueError("invalid host or port") from None
    scheme = parts.scheme.lower()
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def origin_allowed(source: LeadSource, origin: str | None) -> bool:
    """No Origin header: a server-to-server post, allowed. Otherwise it must be listed (or '*')."""
    if origin is None:
        return True
    allowed = set(source.allowed_origins or [])
    if "*" in allowed:
        return True
    try:
        return normalise_origin(origin) in allowed
    except ValueError:
        return False  # includes "null" (sandboxed frames, file://)


def _region_error(region: str) -> str | None:
    if region and region.upper() not in phonenumbers.SUPPORTED_REGIONS:
        return "not a known ISO 3166-1 alpha-2 region"
    return None


# --- lead sources ----------------------------------------------------------------------------------------
class LeadSourceService:
    def __init__(self, session: AsyncSession) -> None:
        self.repo = LeadSourceRepository(session)

    @staticmethod
    def _checked(values: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        if "allowed_origins" in values and values["allowed_origins"] is not None:
            origins: list[str] = []
            for i, raw in enumerate(values["allowed_origins"]):
                try:
                    origin = normalise_origin(raw)
                except ValueError as exc:
                    errors[f"allowed_origins.{i}"] = str(exc)
                    continue
                if origin not in origins:
                    origins.append(origin)
            values["allowed_origins"] = origins
        if "field_whitelist" in values and values["field_whitelist"] is not None:
            names: list[str] = []
            for i, raw in enumerate(values["field_whitelist"]):
                name = raw.strip()
                canonical = f.canonical_name(name) if name != f.CUSTOM_ANY else name
                reason = f.whitelist_error(canonical or name)
                if reason:
                    errors[f"field_whitelist.{i}"] = reason
                elif canonical and canonical not in names:
                    names.append(canonical)
            if not values["field_whitelist"]:
                errors["field_whitelist"] = "a form must accept at least one field"
            values["field_whitelist"] = names
        if values.get("default_region") is not None:
            values["default_region"] = values["default_region"].strip().upper()
            reason = _region_error(values["default_region"])
            if reason:
                errors["default_region"] = reason
        if values.get("name") is not None:
            values["name"] = values["name"].strip()
            if not values["name"]:
                errors["name"] = "must not be blank"
        if errors:
            raise ValidationFailed(errors)
        return values

    async def create(self, data: LeadSourceCreate, who: Principal) -> tuple[LeadSource, str]:
        who.require("admin", "manager")
        values = self._checked(data.model_dump())
        if values["field_whitelist"] is None:
            values["field_whitelist"] = list(f.DEFAULT_WHITELIST)
        api_key = new_api_key()
        source = LeadSource(id=new_id(), api_key_hash=hash_key(api_key), key_prefix=api_key[:12], **values)
        await self.repo.add(source)
        return source, api_key

    async def list_sources(self, who: Principal) -> Sequence[LeadSource]:
        who.require("admin", "manager")
        return await self.repo.all()

    async def get(self, source_id: uuid.UUID, who: Principal) -> LeadSource:
        who.require("admin", "manager")
        source = await self.repo.get(source_id)
        if source is None:
            raise LeadSourceNotFound(f"lead source {source_id} does not exist")
        return source

    async def update(self, source_id: uuid.UUID, data: LeadSourceUpdate, who: Principal) -> LeadSource:
        source = await self.get(source_id, who)
        values = self._checked(data.model_dump(exclude_unset=True))
        for key, value in values.items():
            if value is None:
                raise ValidationFailed({key: "may not be null"})
            setattr(source, key, value)
        await self.repo.flush()
        return source

    async def rotate_key(self, source_id: uuid.UUID, who: Principal) -> tuple[LeadSource, str]:
        """A new key; the old one stops working when this transaction commits."""
        source = await self.get(source_id, who)
        api_key = new_api_key()
        source.api_key_hash = hash_key(api_key)
        source.key_prefix = api_key[:12]
        await self.repo.flush()
        return source, api_key


# --- turning mapped input into a lead ----------------------------------------------------------------------
def build_lead_create(mapped: f.MappedInput, region: str) -> LeadCreate:
    """LeadCreate from mapped input; pydantic errors are reported under the caller's field names."""
    data = {k: v for k, v in mapped.data.items() if k in LeadCreate.model_fields}
    if isinstance(data.get("rating"), str):
        data["rating"] = data["rating"].strip().casefold()
    if isinstance(data.get("country"), str):
        data["country"] = data["country"].strip().upper()
    data["default_region"] = region or None
    try:
        return LeadCreate.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for e in exc.errors():
            key = mapped.error_key(".".join(str(p) for p in e["loc"]))
            errors.setdefault(key, str(e["msg"]))
        raise ValidationFailed(errors) from None


def lead_errors(mapped: f.MappedInput, errors: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, reason in errors.items():
        out.setdefault(mapped.error_key(key), reason)
    return out


@dataclass(frozen=True)
class Submission:
    idempotency_key: str
    lead_id: uuid.UUID
    replayed: bool
    ignored_fields: list[str]


def source_principal(source: LeadSource) -> Principal:
    """Leads from a public form are created by the source itself (audit actor ``lead-source:<id>``)."""
    return Principal(subject=f"lead-source:{source.id}", roles=frozenset(), is_service=True)


class IntakeService:
    def __init__(self, session: AsyncSession, leads: LeadService) -> None:
        self.session = session
        self.sources = LeadSourceRepository(session)
        self.submissions = SubmissionRepository(session)
        self.leads = leads

    async def resolve(self, api_key: str) -> LeadSource:
        """The active source of an API key; unknown, malformed and inactive keys look the same."""
        source = await self.sources.by_key_hash(hash_key(api_key)) if key_looks_valid(api_key) else None
        if source is None or not source.active:
            INTAKE.labels("unknown", "unknown_key").inc()
            raise IntakeEndpointNotFound("no active lead source has this key")
        return source

    @staticmethod
    def check_origin(source: LeadSource, origin: str | None) -> None:
        if not origin_allowed(source, origin):
            INTAKE.labels(source.kind, "origin_forbidden").inc()
            raise OriginNotAllowed(f"origin {origin!r} may not post to this form")

    def region(self, source: LeadSource) -> str:
        return (source.default_region or self.leads.default_region).upper()

    def derive_key(self, source: LeadSource, mapped: f.MappedInput) -> str:
        fingerprint = f.canonical_fingerprint(mapped.data, normalise_phone, self.region(source))
        return "auto:" + hashlib.sha256(f"{source.id}\n{fingerprint}".encode()).hexdigest()

    async def submit(
        self, source: LeadSource, pairs: Iterable[tuple[str, Any]], client_key: str | None
    ) -> Submission:
        """Store the lead of one form submission, once per (source, idempotency key).

        The claim row is inserted before the lead, in the same transaction: a concurrent submission of
        the same key waits on it, then finds the winner's lead; a failed transaction frees the key.
        """
        mapped = f.map_fields(pairs, whitelist=source.field_whitelist, forbidden=f.NOT_FOR_FORMS)
        key = client_key if client_key is not None else self.derive_key(source, mapped)
        existing = await self.submissions.lead_for(source.id, key)
        if existing is not None:
            INTAKE.labels(source.kind, "replayed").inc()
            return Submission(key, existing, True, mapped.ignored)
        if mapped.errors:
            INTAKE.labels(source.kind, "invalid").inc()
            raise ValidationFailed(mapped.errors)
        region = self.region(source)
        try:
            data = build_lead_create(mapped, region)
        except ValidationFailed:
            INTAKE.labels(source.kind, "invalid").inc()
            raise
        if not data.campaign and source.campaign:
            data.campaign = source.campaign
        errors = await self.leads.validate(data, region)
        if errors:
            INTAKE.labels(source.kind, "invalid").inc()
            raise ValidationFailed(lead_errors(mapped, errors))
        if not await self.submissions.claim(source.id, key, new_id()):
            winner = await self.submissions.lead_for(source.id, key)
            if winner is None:  # cannot happen: a lost claim means a committed row exists
                raise Conflict("the submission is being processed; retry", type_slug="intake-in-progress")
            INTAKE.labels(source.kind, "replayed").inc()
            return Submission(key, winner, True, mapped.ignored)
        try:
            (lead,) = await self.leads.create_many(
                [data],
                source_principal(source),
                channel=source.kind,
                source_id=source.id,
                source_name=source.name,
                campaign=source.campaign or None,
                default_region=region,
            )
        except ValidationFailed as exc:
            INTAKE.labels(source.kind, "invalid").inc()
            raise ValidationFailed(lead_errors(mapped, exc.field_errors)) from None
        await self.submissions.set_lead(source.id, key, lead.id)
        INTAKE.labels(source.kind, "accepted").inc()
        return Submission(key, lead.id, False, mapped.ignored)


# --- CSV import ------------------------------------------------------------------------------------------
def read_csv_upload(data: bytes) -> tuple[str, CsvTable]:
    if len(data) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"a CSV import may be at most {MAX_IMPORT_BYTES // (1024 * 1024)} MiB")
    try:
        text = decode(data)
        table = parse(text)
    except CsvProblem as exc:
        raise ValidationFailed({"file": str(exc)}) from None
    if not table.records:
        raise ValidationFailed({"file": "the file has a header but no data rows"})
    return text, table


def row_region(mapped: f.MappedInput, default: str) -> str:
    """A row's own ISO country (when it is a phone region) parses its national-format phones."""
    country = str(mapped.data.get("country", "")).strip().upper()
    return country if country in phonenumbers.SUPPORTED_REGIONS else default


@dataclass
class _Row:
    line: int
    data: LeadCreate
    mapped: f.MappedInput


@dataclass
class ChunkResult:
    imported: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def import_principal(job: ImportJob) -> Principal:
    """The importer, as far as the job records it (imports are for admins and managers)."""
    return Principal(subject=job.created_by or "import", roles=frozenset({"manager"}), team=job.team)


def _item_errors(exc: ValidationFailed, count: int) -> dict[int, dict[str, str]]:
    """Split create_many's field errors (``leads.<i>.<field>``, or ``<field>`` for one item) per item."""
    out: dict[int, dict[str, str]] = {}
    for key, reason in exc.field_errors.items():
        match = re.fullmatch(r"leads\.(\d+)\.(.+)", key)
        if match and count > 1:
            out.setdefault(int(match.group(1)), {})[match.group(2)] = reason
        elif count == 1:
            out.setdefault(0, {})[key] = reason
    return out


class ImportService:
    def __init__(self, session: AsyncSession, leads: LeadService) -> None:
        self.session = session
        self.jobs = ImportJobRepository(session)
        self.leads = leads

    async def create(
        self,
        data: bytes,
        who: Principal,
        *,
        filename: str = "",
        default_region: str = "",
        source: str = "",
    ) -> tuple[ImportJob, CsvTable]:
        who.require("admin", "manager")
        region = (default_region or "").strip().upper()
        errors: dict[str, str] = {}
        reason = _region_error(region)
        if reason:
            errors["default_region"] = reason
        if len(source) > 100:
            errors["source"] = "at most 100 characters"
        if errors:
            raise ValidationFailed(errors)
        text, table = read_csv_upload(data)
        job = ImportJob(
            id=new_id(),
            status="queued",
            filename=(filename or "upload.csv")[:300],
            source=(source or "csv").strip()[:100],
            default_region=region,
            content=text,
            total=len(table.records),
            processed=0,
            imported=0,
            failed=0,
            errors=[],
            created_by=who.subject,
            team=who.team,
        )
        await self.jobs.add(job)
        enqueue_after_commit(self.session, celery, "leads.run_import", str(job.id))
        return job, table

    async def get(self, job_id: uuid.UUID, who: Principal) -> ImportJob:
        job = await self.jobs.get_progress(job_id)
        if job is None or not who.can_see(job.created_by, job.team):
            raise ImportJobNotFound(f"import job {job_id} does not exist or is not yours")
        return job

    async def errors(self, job_id: uuid.UUID, limit: int | None) -> list[dict[str, Any]]:
        return await self.jobs.errors(job_id, limit)

    async def list_jobs(self, who: Principal, limit: int = 50) -> Sequence[ImportJob]:
        if who.is_admin:
            return await self.jobs.list_visible(None, None, limit)
        if who.is_manager:
            return await self.jobs.list_visible(who.subject, who.team, limit)
        return await self.jobs.list_visible(who.subject, None, limit)

    async def errors_csv(self, job_id: uuid.UUID, who: Principal) -> str:
        """The failed rows as they were in the file, plus ``row`` and ``errors`` columns: fix, re-upload."""
        await self.get(job_id, who)
        errors = await self.jobs.errors(job_id, None)
        content = await self.jobs.content(job_id) or ""
        by_line = {e.get("row"): e.get("errors", {}) for e in errors}
        table = parse(content)
        out = io.StringIO()
        writer = csv.writer(out, delimiter=table.delimiter, lineterminator="\r\n")
        writer.writerow([*table.header, "row", "errors"])
        for line, cells in table.records:
            if line in by_line:
                reasons = "; ".join(f"{k}: {v}" for k, v in by_line[line].items())
                writer.writerow([*cells, line, reasons])
        for e in errors:
            if e.get("row") is None:
                reasons = "; ".join(f"{k}: {v}" for k, v in e.get("errors", {}).items())
                writer.writerow([""] * len(table.header) + ["", reasons])
        return out.getvalue()

    # --- the task's work, one chunk per transaction --------------------------------------------------
    async def import_chunk(
        self, job: ImportJob, table: CsvTable, chunk: Sequence[tuple[int, list[str]]]
    ) -> ChunkResult:
        """Validate each row, import the valid ones with create_many(channel="csv"), return row errors."""
        result = ChunkResult()
        default = (job.default_region or self.leads.default_region).upper()
        rows: list[_Row] = []
        for line, cells in chunk:
            mapped = f.map_fields(table.pairs(cells))
            if mapped.errors:
                result.errors.append({"row": line, "errors": mapped.errors})
                continue
            region = row_region(mapped, default)
            try:
                data = build_lead_create(mapped, region)
            except ValidationFailed as exc:
                result.errors.append({"row": line, "errors": exc.field_errors})
                continue
            errors = await self.leads.validate(data, region)
            if errors:
                result.errors.append({"row": line, "errors": lead_errors(mapped, errors)})
                continue
            rows.append(_Row(line, data, mapped))
        result.imported = await self._store(job, rows, result.errors)
        result.errors.sort(key=lambda e: e["row"] if e["row"] is not None else 0)
        IMPORT_ROWS.labels("imported").inc(result.imported)
        IMPORT_ROWS.labels("failed").inc(len(result.errors))
        return result

    async def _create(self, job: ImportJob, rows: Sequence[_Row]) -> int:
        async with self.session.begin_nested():
            leads = await self.leads.create_many(
                [r.data for r in rows],
                import_principal(job),
                channel=CHANNEL_CSV,
                source_name=job.source or None,
                default_region=job.default_region or None,
            )
        return len(leads)

    async def _store(self, job: ImportJob, rows: list[_Row], errors: list[dict[str, Any]]) -> int:
        """Import ``rows`` in one savepoint. Rows create_many still refuses are reported and the rest
        retried; any other failure is bisected down to the row that causes it, which is reported, so one
        bad row never sinks its chunk. Transient database errors propagate: the task retries and resumes.
        """
        pending = rows
        while pending:
            try:
                return await self._create(job, pending)
            except ValidationFailed as exc:
                bad = _item_errors(exc, len(pending))
                if not bad:  # errors not tied to an item: find the row by bisection
                    return await self._bisect(job, pending, errors, exc)
                for i, errs in sorted(bad.items()):
                    errors.append({"row": pending[i].line, "errors": lead_errors(pending[i].mapped, errs)})
                pending = [r for i, r in enumerate(pending) if i not in bad]
            except Exception as exc:
                if is_transient(exc):
                    raise
                return await self._bisect(job, pending, errors, exc)
        return 0

    async def _bisect(
        self, job: ImportJob, rows: list[_Row], errors: list[dict[str, Any]], exc: Exception
    ) -> int:
        if len(rows) == 1:
            row = rows[0]
            if isinstance(exc, ValidationFailed):
                errors.append({"row": row.line, "errors": lead_errors(row.mapped, exc.field_errors)})
            else:
                log.warning("import %s: row %s could not be stored: %r", job.id, row.line, exc)
                reason = f"could not be stored ({type(exc).__name__}); the import went on without it"
                errors.append({"row": row.line, "errors": {"row": reason}})
            return 0
        log.info("import %s: %d rows failed together (%s); splitting", job.id, len(rows), type(exc).__name__)
        mid = len(rows) // 2
        return await self._store(job, rows[:mid], errors) + await self._store(job, rows[mid:], errors)


def is_transient(exc: BaseException) -> bool:
    """Worth retrying the whole task later: the database went away or is overloaded, not the data."""
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, OperationalError)
    return isinstance(exc, OSError | TimeoutError)
