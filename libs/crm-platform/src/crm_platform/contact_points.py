"""Contact points every service handles the same way: E.164 phones (with a default region), e-mail
addresses, web domains, company-name matching keys, and the phone schemas used at the REST edges."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import phonenumbers
from crm.common.v1 import contact_point_pb2
from pydantic import BaseModel, ConfigDict, Field

MAX_PHONE_INPUT = 64
# phonenumbers folds most Unicode digits itself; this keeps the company key and other text stable too.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s]+)$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})$")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
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

PhoneKindName = Literal["work", "mobile", "home", "fax"]
# proto <-> name of a phone's kind (crm.common.v1.PhoneKind)
PHONE_KINDS: dict[str, contact_point_pb2.PhoneKind.ValueType] = {
    "work": contact_point_pb2.PHONE_KIND_WORK,
    "mobile": contact_point_pb2.PHONE_KIND_MOBILE,
    "home": contact_point_pb2.PHONE_KIND_HOME,
    "fax": contact_point_pb2.PHONE_KIND_FAX,
}
PHONE_KIND_NAMES: dict[int, PhoneKindName] = {v: k for k, v in PHONE_KINDS.items()}  # type: ignore[misc]


def phones_to_proto(phones: Sequence[Mapping[str, Any]]) -> list[contact_point_pb2.Phone]:
    """Stored phones ({"e164", "kind"}) as crm.common.v1.Phone messages."""
    return [
        contact_point_pb2.Phone(
            e164=p["e164"],
            kind=PHONE_KINDS.get(p.get("kind", "work"), contact_point_pb2.PHONE_KIND_UNSPECIFIED),
        )
        for p in phones
    ]


def phones_from_proto(phones: Sequence[contact_point_pb2.Phone]) -> list[dict[str, str]]:
    """crm.common.v1.Phone messages as stored phones; entries without a number are dropped."""
    return [{"e164": p.e164, "kind": PHONE_KIND_NAMES.get(p.kind, "work")} for p in phones if p.e164]


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=40)
    kind: PhoneKindName = "work"


class PhoneOut(BaseModel):
    e164: str
    kind: PhoneKindName


def normalise_phone(raw: str, region: str) -> str:
    """E.164 of ``raw`` read in ``region`` (IR 09xx/031, IL 05x, HU 06 forms; "00" and tel: prefixes;
    Persian and Arabic-Indic digits), or ValueError with a human reason."""
    text = raw.translate(_DIGITS).strip()
    if not text:
        raise ValueError("empty phone number")
    if len(text) > MAX_PHONE_INPUT:
        raise ValueError(f"longer than {MAX_PHONE_INPUT} characters")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region.upper() or None)
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


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[-1]


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


def company_key(name: str) -> str:
    """Matching key for a company name: case-folded, punctuation and legal suffixes removed."""
    words = _PUNCT.sub(" ", name.translate(_DIGITS).casefold()).split()
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)
