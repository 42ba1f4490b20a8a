"""Errors of lead conversion (mapped to problem+json / gRPC status by the platform)."""

from crm_platform.errors import Conflict, NotFound


class LeadAlreadyConverted(Conflict):
    type_slug = "lead-already-converted"
    title = "Lead already converted"


class ConversionInProgress(Conflict):
    type_slug = "conversion-in-progress"
    title = "The lead is being converted"


class LeadNotConvertible(Conflict):
    type_slug = "lead-closed"
    title = "Lead cannot be converted"


class ConversionNotFound(NotFound):
    type_slug = "conversion-not-found"
    title = "The lead has no conversion"
