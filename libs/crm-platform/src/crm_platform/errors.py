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


class PermanentEventError(Exception):
    """Raised by an event handler when a message can never be processed (poison): it is terminated."""


PROBLEM_BASE = "https://crm.example/problems/"
