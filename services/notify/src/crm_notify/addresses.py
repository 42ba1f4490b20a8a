"""Addresses per channel: e-mail (lower-cased, IDN kept for SMTPUTF8) or E.164 for SMS and fax."""

from __future__ import annotations

from crm_platform.contact_points import normalise_phone
from crm_platform.errors import ValidationFailed

CHANNELS = ("email", "sms", "fax")


def normalise_email(raw: str) -> str:
    text = raw.strip()
    local, sep, domain = text.rpartition("@")
    if not sep or not local or "." not in domain or any(c.isspace() for c in text) or len(text) > 320:
        raise ValueError("not a valid e-mail address")
    return f"{local}@{domain.lower()}" if not local.isascii() else text.lower()


def normalise(channel: str, raw: str, region: str, field: str = "recipient") -> str:
    try:
        if channel == "email":
            return normalise_email(raw)
        if channel in ("sms", "fax"):
            return normalise_phone(raw, region)
    except ValueError as exc:
        raise ValidationFailed({field: str(exc)}) from None
    raise ValidationFailed({"channel": f"must be one of {', '.join(CHANNELS)}"})


def guess_channel(raw: str) -> str:
    return "email" if "@" in raw else "sms"
