"""Phone numbers as the phonebook keys them: E.164, from whatever a PBX, a user or an event gives.

phonenumbers already folds Persian, Arabic-Indic and other Unicode digits to ASCII, understands the
region's international prefix ("00" in IR, IL, HU), ``tel:`` URIs and trailing extensions.
"""

from __future__ import annotations

import phonenumbers

MAX_INPUT = 64


def to_e164(raw: str, region: str) -> str:
    """The E.164 form of ``raw`` (national numbers read in ``region``), or ValueError with a reason."""
    text = raw.strip()
    if not text:
        raise ValueError("empty phone number")
    if len(text) > MAX_INPUT:
        raise ValueError(f"longer than {MAX_INPUT} characters")
    try:
        number = phonenumbers.parse(text, region.upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number for its region")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
