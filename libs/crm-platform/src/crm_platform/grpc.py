"""grpc.aio server bootstrap: health, reflection, and interceptors for auth, RED metrics, tracing and
mapping domain errors to status codes with details (google.rpc.BadRequest for field errors)."""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.trace import SpanKind

from crm_platform import observability as obs
from crm_platform.auth import Principal, TokenVerifier
from crm_platform.errors import DomainError, ValidationFailed, client_data_error, infrastructure_error

log = logging.getLogger(__name__)

current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "current_principal", default=None
)

PUBLIC_PREFIXES = ("/grpc.health.v1.", "/grpc.reflection.")

_HTTP_TO_GRPC = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def principal() -> Principal:
    p = current_principal.get()
    if p is None:
        raise RuntimeError("no principal: the auth interceptor did not run")
    return p


def status_for(exc: DomainError) -> tuple[grpc.StatusCode, tuple[tuple[str, bytes], ...]]:
    code = _HTTP_TO_GRPC.get(exc.http_status, grpc.StatusCode.INVALID_ARGUMENT)
    rich = status_pb2.Status(code=code.value[0], message=exc.detail)
    info = error_details_pb2.ErrorInfo(reason=exc.type_slug.upper().replace("-", "_"), domain="crm")
    packed = any_pb2.Any()
    packed.Pack(info)
    rich.details.append(packed)
    if isinstance(exc, ValidationFailed):
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=k, description=v)
                for k, v in exc.field_errors.items()
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad)
        rich.details.append(packed)
    return code, (("grpc-status-details-bin", rich.SerializeToString()),)


class PlatformInterceptor(grpc.aio.ServerInterceptor):
    """Auth (service token or user JWT), tracing, RED metrics and error mapping for unary calls."""

    def __init__(self, service: str, verifier: TokenVerifier) -> None:
        self.service = service
        self.verifier = verifier

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or method.startswith(PUBLIC_PREFIXES):
            return handler
        inner = handler.unary_unary
        service = self.service
        verifier = self.verifier

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            code = grpc.StatusCode.OK
            md = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            token = None
            try:
                with obs.span_from_headers(method, md, kind=SpanKind.SERVER):
                    try:
                        who = verifier.verify_service_or_user(md.get("authorization"))
                        token = current_principal.set(who)
                        return await inner(request, context)
                    except DomainError as exc:
                        code, trailers = status_for(exc)
                        await context.abort(code, exc.detail, trailing_metadata=trailers)
            except grpc.aio.AbortError:
                code = context.code() or code  # type: ignore[assignment]
                raise
            except Exception as exc:
                mapped = client_data_error(exc) or infrastructure_error(exc)
                if mapped is not None:
                    code, trailers = status_for(mapped)
                    await context.abort(code, mapped.detail, trailing_metadata=trailers)
                code = grpc.StatusCode.INTERNAL
                log.exception("unhandled error in %s", method)
                await context.abort(grpc.StatusCode.INTERNAL, "internal error")
            finally:
                if token is not None:
                    current_principal.reset(token)
                name = code.name if isinstance(code, grpc.StatusCode) else str(code)
                obs.GRPC_REQUESTS.labels(service, method, name).inc()
                obs.GRPC_LATENCY.labels(service, method).observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


Registration = tuple[Callable[[Any, grpc.aio.Server], None], Any, str]
"""(add_XServicer_to_server, servicer instance, full service name)"""


def build_server(
    service: str,
    verifier: TokenVerifier,
    registrations: Sequence[Registration],
    port: int,
    host: str = "0.0.0.0",
) -> tuple[grpc.aio.Server, health.aio.HealthServicer, int]:
    server = grpc.aio.server(interceptors=[PlatformInterceptor(service, verifier)])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names: list[str] = [health.SERVICE_NAME, reflection.SERVICE_NAME]
    for add, servicer, full_name in registrations:
        add(servicer, server)
        names.append(full_name)
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    return server, health_servicer, bound


async def set_serving(health_servicer: Any, names: Iterable[str], serving: bool) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    await health_servicer.set("", status)
    for name in names:
        await health_servicer.set(name, status)
