"""Pure normalisation of contact data: E.164 phones (with a default region) and e-mail addresses."""

from __future__ import annotations

import re

import phonenumbers

# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits to ASCII.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_phone(raw: str, default_region: str) -> str:
    """Return the E.164 form or raise ValueError with a human reason."""
    text = raw.translate(_DIGITS).strip()
    if not text:
        raise ValueError("empty phone number")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region.upper() or None)
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


_LEGAL_SUFFIXES = {
    "ltd",
    "limited",
    "inc",
    "llc",
    "gmbh",
    "kft",
    "bt",
    "zrt",
    "nyrt",
    "co",
    "corp",
    "company",
    "sa",
    "ag",
    "plc",
    "bv",
    "srl",
    "spa",
    "sro",
    "oy",
    "ab",
    "pjs",
    "pjsc",
}
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)


def company_key(name: str) -> str:
    """Matching key for a company name: case-folded, punctuation and legal suffixes removed."""
    words = _PUNCT.sub(" ", name.translate(_DIGITS).casefold()).split()
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)
