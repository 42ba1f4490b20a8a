"""Domain errors of intake; the REST edge maps them to problem+json (stable ``type`` slugs)."""

from __future__ import annotations

from crm_platform.errors import DomainError, Forbidden, NotFound


class LeadSourceNotFound(NotFound):
    type_slug = "lead-source-not-found"
    title = "Lead source not found"


class IntakeEndpointNotFound(NotFound):
    """Unknown, malformed or deactivated intake key: one answer for all, so a key's state is not probed."""

    type_slug = "intake-endpoint-not-found"
    title = "Intake endpoint not found"


class OriginNotAllowed(Forbidden):
    type_slug = "intake-origin-forbidden"
    title = "Origin not allowed"


class RateLimited(DomainError):
    http_status = 429
    type_slug = "rate-limited"
    title = "Too many submissions"

    def __init__(self, retry_after: int, detail: str = "") -> None:
        self.retry_after = retry_after
        super().__init__(detail or f"this form's rate limit is reached; retry in {retry_after} s")


class PayloadTooLarge(DomainError):
    http_status = 413
    type_slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(DomainError):
    http_status = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


class BadRequestBody(DomainError):
    http_status = 400
    type_slug = "malformed-body"
    title = "Malformed request body"


class ImportJobNotFound(NotFound):
    type_slug = "import-job-not-found"
    title = "Import job not found"
