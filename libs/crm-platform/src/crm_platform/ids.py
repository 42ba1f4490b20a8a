"""Identifiers: UUIDv7 everywhere (time-ordered, index friendly)."""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=uuid6.uuid7().bytes)


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    """Parse a UUID from text or raise a ValidationFailed naming the field."""
    from crm_platform.errors import ValidationFailed

    try:
        return uuid.UUID(str(value))
    except (ValueError, AttributeError, TypeError):
        raise ValidationFailed({field: "must be a UUID"}) from None
