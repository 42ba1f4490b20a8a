"""FastAPI app factory: problem+json errors, /healthz /readyz /metrics, RED metrics, auth dependencies."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_platform import observability as obs
from crm_platform.auth import Principal
from crm_platform.errors import (
    PROBLEM_BASE,
    DomainError,
    ValidationFailed,
    client_data_error,
    infrastructure_error,
)

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
}


def problem(
    status: int,
    title: str,
    detail: str = "",
    *,
    type_slug: str | None = None,
    instance: str = "",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (type_slug or _STATUS_SLUGS.get(status, "error")),
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if instance:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _route(request: Request) -> str:
    """The matched route template (never the raw path: public intake paths carry API keys)."""
    return _route_path(request.scope)


def _route_path(scope: Scope) -> str:
    return str(getattr(scope.get("route"), "path", "unmatched"))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _loc(e.get("loc", ())), "message": str(e.get("msg", "")), "code": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(
            422, "Validation failed", "request has invalid fields", errors=errors, instance=request.url.path
        )

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        errors = None
        if isinstance(exc, ValidationFailed):
            errors = [{"field": k, "message": v, "code": "invalid"} for k, v in exc.field_errors.items()]
        headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
        return problem(
            exc.http_status,
            exc.title,
            exc.detail,
            type_slug=exc.type_slug,
            instance=request.url.path,
            errors=errors,
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            str(exc.detail),
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse | None:
        down = infrastructure_error(exc)
        if down is None:
            return None
        log.warning("%s %s: backing service unreachable: %r", request.method, _route(request), exc)
        response = await _domain(request, down)
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        invalid = client_data_error(exc)
        if invalid is not None:  # e.g. U+0000 in text: the client's data, not a server fault
            return await _domain(request, invalid)
        down = await _unavailable(request, exc)
        if down is not None:
            return down
        log.error("database error on %s %s", request.method, _route(request), exc_info=exc)
        return problem(500, "Internal error", "the request could not be completed", type_slug="internal")

    @app.exception_handler(OSError)  # connection refused / reset, timeouts (TimeoutError is an OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        down = await _unavailable(request, exc)
        if down is not None:
            return down
        log.error("unhandled error on %s %s", request.method, _route(request), exc_info=exc)
        return problem(500, "Internal error", "the request could not be completed", type_slug="internal")

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, _route(request))
        return problem(500, "Internal error", "the request could not be completed", type_slug="internal")


class RedMetrics:
    """Pure ASGI middleware: RED metrics per route template and a server span continuing the caller's
    trace (renamed to the route template once routing is known: paths may carry secrets). Cheaper than
    ``BaseHTTPMiddleware``, which runs every request through an extra task group and memory streams."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        method = scope["method"]
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            with obs.span_from_headers(f"{method} request", headers, kind=SpanKind.SERVER) as span:
                try:
                    await self.app(scope, receive, send_status)
                finally:
                    span.update_name(f"{method} {_route_path(scope)}")
        finally:
            path = _route_path(scope)
            obs.HTTP_REQUESTS.labels(self.service, method, path, str(status)).inc()
            obs.HTTP_LATENCY.labels(self.service, method, path).observe(time.perf_counter() - start)


def install_metrics(app: FastAPI, service: str) -> None:
    app.add_middleware(RedMetrics, service=service)


def create_app(
    runtime: Runtime,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None,
    title: str,
) -> FastAPI:
    # FastAPI's own OpenTelemetry layer is off: RedMetrics makes the server span (named by route
    # template) and the crm_* Prometheus metrics the dashboards read; both on would double the work
    native_telemetry_off: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(title=title, version="1.0.0", lifespan=lifespan, telemetry=native_telemetry_off)
    app.state.runtime = runtime
    install_error_handlers(app)
    install_metrics(app, runtime.settings.service_name)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not-ready", "checks": checks}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def _runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; committed when the endpoint returns, rolled back on error."""
    runtime = _runtime(request)
    async with runtime.unit_of_work() as session:
        yield session


async def get_principal(request: Request) -> Principal:
    return _runtime(request).verifier.verify_bearer(request.headers.get("authorization"))


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]
CurrentUser = Annotated[Principal, Depends(get_principal)]
