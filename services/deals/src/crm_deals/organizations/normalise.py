"""Pure normalisation of organization and contact data: E.164 phones, e-mail addresses, web domains."""

from __future__ import annotations

import re

import phonenumbers

_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s]+)$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})$")


def normalise_phone(raw: str, region: str) -> str:
    """E.164 (phonenumbers folds Persian and Arabic-Indic digits itself), or ValueError with a reason."""
    try:
        number = phonenumbers.parse(raw.strip(), region.upper())
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    text = raw.strip().lower()
    if len(text) > 320 or not _EMAIL.match(text):
        raise ValueError("not a valid e-mail address")
    return text


def normalise_domain(raw: str) -> str:
    """The bare host name of a web site: "https://www.Acme.com/about" -> "acme.com" (IDNs as xn--)."""
    text = raw.strip().lower().split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    text = text.rsplit("@", 1)[-1].split(":", 1)[0].rstrip(".").removeprefix("www.")
    try:
        text = text.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid domain name") from None
    if len(text) > 253 or not _DOMAIN.match(text):
        raise ValueError("not a valid domain name")
    return text
