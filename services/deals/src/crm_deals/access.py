"""Role rules shared by every deals domain: admins see all, managers their team's, reps their own."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from typing import Any

from crm_platform.auth import Principal
from crm_platform.errors import ValidationFailed
from sqlalchemy import ColumnElement, or_, true


def visible_to(model: Any, who: Principal) -> ColumnElement[bool]:
    """SQL form of Principal.can_see for a model with ``owner_id`` and ``team``."""
    if who.is_admin:
        return true()
    if who.is_manager and who.team:
        return or_(model.team == who.team, model.owner_id == who.subject)
    return model.owner_id == who.subject  # type: ignore[no-any-return]


def can_see(who: Principal, owner_id: str | None, team: str | None) -> bool:
    return who.can_see(owner_id, team) or (owner_id is not None and owner_id == who.subject)


def default_owner(who: Principal) -> str | None:
    """Reps own what they create; records created by admins and managers start unassigned."""
    return None if who.is_admin or who.is_manager else who.subject


def encode_cursor(created_at: dt.datetime, ident: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{ident}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        when = dt.datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("naive time")
        return when, uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed({"cursor": "is not a cursor returned by this endpoint"}) from None
