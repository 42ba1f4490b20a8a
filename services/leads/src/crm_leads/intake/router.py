"""REST edge of intake (thin: read the request, call the service, shape the answer).

- ``/api/v1/lead-sources``: admin/manager CRUD of lead sources; the API key is shown once.
- ``/api/v1/intake/{api_key}``: the public web-form endpoint. No JWT; it reads the API key from the
  path and reaches nothing but the submission of one lead. CORS for the source's allowed origins.
- ``/api/v1/imports``: CSV import jobs (upload, progress, failed rows as CSV).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from crm_platform.errors import DomainError, ValidationFailed
from crm_platform.http import CurrentUser, DbSession, problem
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from crm_leads.intake import fields
from crm_leads.intake.csvfile import CsvProblem, parse_multipart, parse_urlencoded
from crm_leads.intake.exceptions import BadRequestBody, PayloadTooLarge, RateLimited, UnsupportedMediaType
from crm_leads.intake.models import ImportJob, LeadSource
from crm_leads.intake.ratelimit import RateLimiter
from crm_leads.intake.schemas import (
    ImportAccepted,
    ImportJobList,
    ImportJobOut,
    ImportRowError,
    IntakeAccepted,
    LeadSourceCreate,
    LeadSourceList,
    LeadSourceOut,
    LeadSourceUpdate,
    LeadSourceWithKey,
)
from crm_leads.intake.service import (
    IMPORT_ERRORS_SHOWN,
    MAX_IMPORT_BYTES,
    ImportService,
    IntakeService,
    LeadSourceService,
)
from crm_leads.leads.router import lead_service

MAX_FORM_BYTES = 64 * 1024
INTAKE_PATH = "/api/v1/intake/"
CORS_ALLOW_HEADERS = "Content-Type, Idempotency-Key"
CORS_EXPOSE_HEADERS = "Idempotency-Key, Retry-After"
CSV_TYPES = (
    "text/csv",
    "text/plain",
    "application/csv",
    "text/comma-separated-values",
    "application/vnd.ms-excel",
    "application/octet-stream",
)

router = APIRouter()
sources_router = APIRouter(prefix="/api/v1/lead-sources", tags=["lead sources"])
public_router = APIRouter(prefix="/api/v1/intake", tags=["public intake"])
imports_router = APIRouter(prefix="/api/v1/imports", tags=["imports"])


# --- helpers -------------------------------------------------------------------------------------------
def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body may be at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _limiter(request: Request) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "intake_rate_limiter", None)
    if limiter is None:
        limiter = RateLimiter(state.runtime.settings.redis_url)
        state.intake_rate_limiter = limiter
    return limiter


def _source_out(source: LeadSource, api_key: str | None = None) -> LeadSourceOut:
    out = LeadSourceOut.model_validate(source)
    if api_key is None:
        return out
    return LeadSourceWithKey(**out.model_dump(), api_key=api_key, intake_path=INTAKE_PATH + api_key)


# --- lead sources (admin) -----------------------------------------------------------------------------
@sources_router.post("", status_code=status.HTTP_201_CREATED, response_model=LeadSourceWithKey)
async def create_source(
    body: LeadSourceCreate, session: DbSession, user: CurrentUser, response: Response
) -> LeadSourceOut:
    source, api_key = await LeadSourceService(session).create(body, user)
    response.headers["Location"] = f"/api/v1/lead-sources/{source.id}"
    response.headers["Cache-Control"] = "no-store"
    return _source_out(source, api_key)


@sources_router.get("", response_model=LeadSourceList)
async def list_sources(session: DbSession, user: CurrentUser) -> LeadSourceList:
    items = await LeadSourceService(session).list_sources(user)
    return LeadSourceList(items=[LeadSourceOut.model_validate(s) for s in items])


@sources_router.post("/{source_id}:rotate-key", response_model=LeadSourceWithKey)
async def rotate_source_key(
    source_id: uuid.UUID, session: DbSession, user: CurrentUser, response: Response
) -> LeadSourceOut:
    source, api_key = await LeadSourceService(session).rotate_key(source_id, user)
    response.headers["Cache-Control"] = "no-store"
    return _source_out(source, api_key)


@sources_router.get("/{source_id}", response_model=LeadSourceOut)
async def get_source(source_id: uuid.UUID, session: DbSession, user: CurrentUser) -> LeadSourceOut:
    return LeadSourceOut.model_validate(await LeadSourceService(session).get(source_id, user))


@sources_router.patch("/{source_id}", response_model=LeadSourceOut)
async def update_source(
    source_id: uuid.UUID, body: LeadSourceUpdate, session: DbSession, user: CurrentUser
) -> LeadSourceOut:
    return LeadSourceOut.model_validate(await LeadSourceService(session).update(source_id, body, user))


# --- public intake ------------------------------------------------------------------------------------
def _cors(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Expose-Headers": CORS_EXPOSE_HEADERS,
        "Vary": "Origin",
    }


def _submission_pairs(content_type: str, body: bytes) -> list[tuple[str, Any]]:
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        if media_type == "application/json" or media_type.endswith("+json"):
            doc = json.loads(body or b"null")
            if not isinstance(doc, dict):
                raise BadRequestBody("the JSON body must be an object of form fields")
            return fields.flatten_json(doc)
        if media_type == "application/x-www-form-urlencoded":
            return list(parse_urlencoded(body))
        if media_type == "multipart/form-data":
            parts = parse_multipart(content_type, body)
            return [(p.name, p.value.decode("utf-8", "replace")) for p in parts if p.filename is None]
    except (ValueError, CsvProblem, RecursionError) as exc:
        raise BadRequestBody(f"could not read the body: {exc}") from None
    raise UnsupportedMediaType(
        "send application/json, application/x-www-form-urlencoded or multipart/form-data"
    )


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= 128 or any(not (0x21 <= ord(c) <= 0x7E) for c in key):
        raise ValidationFailed({"Idempotency-Key": "1 to 128 visible ASCII characters"})
    return key


_INTAKE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": True,
                    "example": {"first_name": "Ali", "email": "ali@example.com", "mobile": "0912 345 6789"},
                }
            },
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            },
        },
    }
}


@public_router.post(
    "/{api_key}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=IntakeAccepted,
    openapi_extra=_INTAKE_BODY,
    responses={
        400: {"description": "Malformed body"},
        403: {"description": "Origin not allowed"},
        404: {"description": "Unknown or inactive key"},
        413: {"description": "Body too large"},
        415: {"description": "Unsupported media type"},
        422: {"description": "Invalid fields"},
        429: {"description": "Rate limit reached (see Retry-After)"},
    },
    summary="Submit a web form (public; authenticated by the source's API key)",
)
async def submit_form(api_key: str, request: Request, session: DbSession) -> Response:
    """Accept one lead from a web form, landing page or social form.

    Fields not in the source's whitelist are ignored and listed in ``ignored_fields`` (forms carry
    submit buttons, CSRF tokens and tracking fields; refusing them would lose leads). Fields that are
    whitelisted but invalid answer 422. An ``Idempotency-Key`` header is honoured; without one, the key
    is derived from the source and the normalised fields, so a resubmitted form never makes a second lead.
    """
    origin = request.headers.get("origin")
    cors: dict[str, str] = {}
    try:
        service = IntakeService(session, lead_service(request, session))
        source = await service.resolve(api_key)
        service.check_origin(source, origin)
        if origin is not None:
            cors = _cors(origin)
        decision = await _limiter(request).hit(str(source.id), source.rate_limit_per_minute)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)
        body = await _read_body(request, MAX_FORM_BYTES)
        pairs = _submission_pairs(request.headers.get("content-type", ""), body)
        result = await service.submit(source, pairs, _idempotency_key(request))
    except DomainError as exc:
        await session.rollback()  # nothing of a refused submission is kept (e.g. its idempotency claim)
        return _problem(exc, cors)
    answer = IntakeAccepted(
        idempotency_key=result.idempotency_key,
        lead_id=result.lead_id,
        replayed=result.replayed,
        ignored_fields=result.ignored_fields,
    )
    headers = {**cors, "Idempotency-Key": result.idempotency_key, "Cache-Control": "no-store"}
    return JSONResponse(answer.model_dump(mode="json"), status_code=202, headers=headers)


def _problem(exc: DomainError, headers: dict[str, str]) -> JSONResponse:
    errors = None
    if isinstance(exc, ValidationFailed):
        errors = [{"field": k, "message": v, "code": "invalid"} for k, v in exc.field_errors.items()]
    extra = dict(headers)
    if isinstance(exc, RateLimited):
        extra["Retry-After"] = str(exc.retry_after)
    # No "instance": the path holds the API key.
    return problem(
        exc.http_status, exc.title, exc.detail, type_slug=exc.type_slug, errors=errors, headers=extra
    )


@public_router.options("/{api_key}", include_in_schema=False)
async def preflight(api_key: str, request: Request, session: DbSession) -> Response:
    """CORS preflight: allowed only for the source's origins."""
    origin = request.headers.get("origin")
    try:
        service = IntakeService(session, lead_service(request, session))
        source = await service.resolve(api_key)
        if origin is None:
            raise BadRequestBody("a CORS preflight needs an Origin header")
        service.check_origin(source, origin)
    except DomainError as exc:
        return _problem(exc, {})
    return Response(
        status_code=status.HTTP_204_NO_CONTENT,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
            "Vary": "Origin",
        },
    )


# --- CSV imports ----------------------------------------------------------------------------------------
_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "default_region": {"type": "string", "maxLength": 2},
                        "source": {"type": "string", "maxLength": 100},
                    },
                }
            },
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}


def _job_out(job: ImportJob, errors: list[dict[str, Any]] | None = None, limit: int = 0) -> dict[str, Any]:
    shown = errors or []
    return {
        "id": job.id,
        "status": job.status,
        "filename": job.filename,
        "source": job.source,
        "default_region": job.default_region,
        "total": job.total,
        "processed": job.processed,
        "imported": job.imported,
        "failed": job.failed,
        "errors": [ImportRowError.model_validate(e) for e in shown[:limit]] if limit else [],
        "errors_truncated": len(shown) > limit if limit else job.failed > 0,
        "created_by": job.created_by,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


@imports_router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportAccepted,
    openapi_extra=_IMPORT_BODY,
    summary="Upload a CSV of leads; it is imported by a background job",
)
async def create_import(
    request: Request,
    session: DbSession,
    user: CurrentUser,
    response: Response,
    default_region: str = Query("", max_length=2, description="Region for phones without +country"),
    source: str = Query("", max_length=100, description="Lead source written on rows without one"),
    filename: str = Query("", max_length=300),
) -> ImportAccepted:
    """Multipart (``file`` plus optional ``default_region``/``source`` fields) or a ``text/csv`` body."""
    user.require("admin", "manager")
    media_type = _media_type(request)
    body = await _read_body(request, MAX_IMPORT_BYTES + 64 * 1024)
    if media_type == "multipart/form-data":
        try:
            parts = parse_multipart(request.headers.get("content-type", ""), body)
        except CsvProblem as exc:
            raise BadRequestBody(str(exc)) from None
        files = [p for p in parts if p.name == "file" or p.filename is not None]
        if not files:
            raise ValidationFailed({"file": "a multipart upload needs a 'file' part"})
        data, filename = files[0].value, files[0].filename or filename
        form = {p.name: p.value.decode("utf-8", "replace").strip() for p in parts if p.filename is None}
        default_region = form.get("default_region", default_region)
        source = form.get("source", source)
    elif media_type in CSV_TYPES:
        data = body
    else:
        raise UnsupportedMediaType("send multipart/form-data with a 'file' part, or a text/csv body")
    service = ImportService(session, lead_service(request, session))
    job, table = await service.create(
        data, user, filename=filename, default_region=default_region, source=source
    )
    response.headers["Location"] = f"/api/v1/imports/{job.id}"
    return ImportAccepted(**_job_out(job), columns=table.mapping, ignored_columns=table.ignored_columns)


@imports_router.get("", response_model=ImportJobList)
async def list_imports(
    request: Request, session: DbSession, user: CurrentUser, limit: int = Query(50, ge=1, le=200)
) -> ImportJobList:
    jobs = await ImportService(session, lead_service(request, session)).list_jobs(user, limit)
    return ImportJobList(items=[ImportJobOut(**_job_out(j)) for j in jobs])


@imports_router.get("/{job_id}", response_model=ImportJobOut)
async def get_import(
    job_id: uuid.UUID,
    request: Request,
    session: DbSession,
    user: CurrentUser,
    errors_limit: int = Query(IMPORT_ERRORS_SHOWN, ge=0, le=10_000, description="row errors to list"),
) -> ImportJobOut:
    """Progress (total/processed/imported/failed) and the first ``errors_limit`` row errors."""
    service = ImportService(session, lead_service(request, session))
    job = await service.get(job_id, user)
    errors = await service.errors(job_id, errors_limit + 1) if errors_limit else []
    out = ImportJobOut(**_job_out(job, errors, errors_limit))
    if not errors_limit:
        out.errors_truncated = job.failed > 0
    return out


@imports_router.get(
    "/{job_id}/errors.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "Failed rows with their reasons"}},
)
async def import_errors_csv(
    job_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> Response:
    """The failed rows as they were in the file plus ``row`` and ``errors`` columns: fix and re-upload."""
    text = await ImportService(session, lead_service(request, session)).errors_csv(job_id, user)
    return Response(
        ("\ufeff" + text).encode("utf-8"),  # BOM: Excel opens UTF-8 (Persian, Hebrew) correctly
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"'},
    )


router.include_router(sources_router)
router.include_router(public_router)
router.include_router(imports_router)
