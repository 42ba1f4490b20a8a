"""Calling another service over gRPC: one grpc.aio channel per (event loop, target), the service token as
``authorization: Bearer ...``, the W3C ``traceparent`` of the current span, a deadline on every call, and
the remote status mapped back to the DomainError types the edges already render (problem+json / status).

    client = service_client(settings.deals_grpc_target, settings.service_token)
    stub = deals_pb2_grpc.DealsServiceStub(client.channel)
    response = await client.call(stub.ConvertLead, request, timeout=10)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

from crm_platform import observability as obs
from crm_platform.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotFound,
    NotImplementedYet,
    ValidationFailed,
)

R = TypeVar("R")

DEFAULT_TIMEOUT = 10.0


class UpstreamUnavailable(DomainError):
    """The other service could not be reached or failed (unavailable, deadline, internal error, or it
    refused our service token): the caller may retry; 503 / UNAVAILABLE."""

    http_status = 503
    type_slug = "upstream-unavailable"
    title = "A service this request depends on is unavailable"


def _details(err: grpc.aio.AioRpcError) -> tuple[str, dict[str, str]]:
    """(ErrorInfo reason as a problem slug, BadRequest field violations) from grpc-status-details-bin."""
    slug, fields = "", {}
    for key, value in err.trailing_metadata() or ():
        if key != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(info):
                slug = info.reason.lower().replace("_", "-")
            elif detail.Unpack(bad):
                fields.update({v.field: v.description for v in bad.field_violations})
    return slug, fields


def error_from_rpc(err: grpc.aio.AioRpcError, service: str = "") -> DomainError:
    """The DomainError a failed call stands for (its detail names the remote service)."""
    code = err.code()
    detail = err.details() or code.name
    where = f"{service}: " if service else ""
    slug, fields = _details(err)
    kwargs: dict[str, Any] = {"type_slug": slug} if slug else {}
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ValidationFailed(fields or {"request": detail}, f"{where}{detail}")
    if code == grpc.StatusCode.NOT_FOUND:
        return NotFound(f"{where}{detail}", **kwargs)
    if code in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ABORTED):
        return Conflict(f"{where}{detail}", **kwargs)
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return Forbidden(f"{where}{detail}", **kwargs)
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return NotImplementedYet(f"{where}{detail}")
    # UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL, UNKNOWN, RESOURCE_EXHAUSTED, CANCELLED, and UNAUTHENTICATED
    # (our service token was refused: a deployment fault, not the user's)
    return UpstreamUnavailable(f"{where}{code.name.lower()}: {detail}")


class ServiceClient:
    """A channel to one service plus the call wrapper; cheap to share, safe for concurrent calls."""

    def __init__(self, target: str, token: str, *, timeout: float = DEFAULT_TIMEOUT, name: str = "") -> None:
        self.target = target
        self.token = token
        self.timeout = timeout
        self.name = name or target
        self.channel = grpc.aio.insecure_channel(
            target,
            options=[
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_permit_without_calls", 0),
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 5_000),
            ],
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        md: list[tuple[str, str]] = [("authorization", f"Bearer {self.token}")]
        traceparent = obs.current_traceparent()
        if traceparent:
            md.append(("traceparent", traceparent))
        return tuple(md)

    async def call(
        self, method: Callable[..., Awaitable[R]], request: Any, *, timeout: float | None = None
    ) -> R:
        """Call ``method`` (a stub method bound to ``self.channel``) with the token and a deadline;
        a failed call raises the matching DomainError (UpstreamUnavailable when the peer is down)."""
        try:
            return await method(request, metadata=self.metadata(), timeout=timeout or self.timeout)
        except grpc.aio.AioRpcError as err:
            raise error_from_rpc(err, self.name) from err

    async def close(self) -> None:
        await self.channel.close()


_clients: dict[tuple[int, str, str], ServiceClient] = {}


def service_client(
    target: str, token: str, *, timeout: float = DEFAULT_TIMEOUT, name: str = ""
) -> ServiceClient:
    """The shared client for ``target`` on the running event loop (grpc.aio channels belong to a loop)."""
    loop = asyncio.get_running_loop()
    key = (id(loop), target, token)
    client = _clients.get(key)
    if client is None or loop.is_closed():
        client = ServiceClient(target, token, timeout=timeout, name=name)
        _clients[key] = client
    client.timeout = timeout
    return client


async def close_clients() -> None:
    """Close every client of the running loop (call on shutdown)."""
    loop_id = id(asyncio.get_running_loop())
    for key in [k for k in _clients if k[0] == loop_id]:
        await _clients.pop(key).close()
