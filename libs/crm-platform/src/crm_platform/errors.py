"""Domain error types shared by every edge: REST maps them to problem+json, gRPC to status codes."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base class. ``type_slug`` becomes the stable problem ``type`` URI suffix."""

    http_status = 400
    type_slug = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str = "", *, type_slug: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if type_slug:
            self.type_slug = type_slug


class ValidationFailed(DomainError):
    http_status = 422
    type_slug = "validation-error"
    title = "Validation failed"

    def __init__(self, field_errors: Mapping[str, str], detail: str = "") -> None:
        self.field_errors = dict(field_errors)
        super().__init__(detail or "; ".join(f"{k}: {v}" for k, v in self.field_errors.items()))


class NotFound(DomainError):
    http_status = 404
    type_slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    http_status = 409
    type_slug = "conflict"
    title = "Conflict"


class Unauthenticated(DomainError):
    http_status = 401
    type_slug = "unauthenticated"
    title = "Unauthenticated"


class Forbidden(DomainError):
    http_status = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotImplementedYet(DomainError):
    """A declared operation whose implementation has not landed yet (501 / UNIMPLEMENTED)."""

    http_status = 501
    type_slug = "not-implemented"
    title = "Not implemented yet"


class Unavailable(DomainError):
    """A backing service (the database, a broker) cannot be reached right now: retry later
    (503 with Retry-After / UNAVAILABLE)."""

    http_status = 503
    type_slug = "unavailable"
    title = "Service unavailable"


def unreachable(exc: BaseException) -> bool:
    """The operation failed for want of a backing service (connection refused or lost, timeout),
    not because of its input."""
    if isinstance(exc, OSError | TimeoutError):
        return True
    if getattr(exc, "connection_invalidated", False):  # sqlalchemy DBAPIError on a lost connection
        return True
    return type(exc).__name__ in ("InterfaceError", "ConnectionDoesNotExistError", "CannotConnectNowError")


def infrastructure_error(exc: BaseException) -> Unavailable | None:
    """Map a failure to reach a backing service to a 503 / UNAVAILABLE, whatever library raised it."""
    if unreachable(exc):
        return Unavailable("a backing service is not reachable right now; retry later")
    return None


class PermanentEventError(Exception):
    """Raised by an event handler when a message can never be processed (poison): it is terminated."""


PROBLEM_BASE = "https://crm.example/problems/"


# PostgreSQL SQLSTATEs that mean "the client sent a value the column cannot hold", not a server fault.
_CLIENT_DATA_STATES = {
    "22021": "text contains a character the database cannot store (e.g. U+0000)",
    "22P05": "text contains a character the database cannot store (e.g. U+0000)",
    "22003": "a number is out of range",
    "22001": "a value is too long",
    "22007": "a date or time is not valid",
    "22008": "a date or time is out of range",
}


def client_data_error(exc: BaseException) -> ValidationFailed | None:
    """Map a database data exception caused by client input to a 422, whatever driver raised it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state in _CLIENT_DATA_STATES:
            return ValidationFailed({"body": _CLIENT_DATA_STATES[state]})
        if type(current).__name__ == "DataError" and type(current).__module__.startswith("asyncpg"):
            # refused by the driver before PostgreSQL saw it (e.g. an integer beyond int4)
            return ValidationFailed({"body": "a value does not fit its field"})
        current = getattr(current, "orig", None) or current.__cause__
    return None
