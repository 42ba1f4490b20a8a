"""Intake field names: the flat names a web form or a CSV header may use, their aliases (English,
Persian, Hebrew, Hungarian), and the mapping of (name, value) pairs onto the lead input.

Pure functions only (no I/O), shared by the public web-form endpoint and the CSV import.

Canonical names: ``first_name last_name name company title email phone mobile home_phone fax national_id
messenger_id website street city region postal_code country industry annual_revenue employee_count
rating description campaign source do_not_email do_not_call do_not_fax`` and ``custom.<key>``.

- ``email`` may repeat (form fields, JSON list) or hold several addresses separated by ``;`` or ``,``.
- ``phone``/``mobile``/``home_phone``/``fax`` become phones of kind work/mobile/home/fax; several numbers
  may be separated by ``;``. A JSON ``phones`` list of ``{"number", "kind"}`` objects is accepted too.
- ``name`` (a full name) goes unsplit into ``last_name`` when no first/last name is given: splitting is
  ambiguous across locales (Hungarian puts the family name first).
- ``custom.<key>`` (or a JSON ``custom_fields`` object) fills ``custom_fields[<key>]``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crm_leads.leads.models import FLAG_FIELDS, NUMBER_FIELDS, TEXT_FIELDS

# Persian (U+06F0..) and Arabic-Indic (U+0660..) digits to ASCII.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")

PHONE_FIELDS = {"phone": "work", "mobile": "mobile", "home_phone": "home", "fax": "fax"}
BOOL_FIELDS = FLAG_FIELDS
CANONICAL: frozenset[str] = frozenset(
    (*TEXT_FIELDS, *PHONE_FIELDS, *BOOL_FIELDS, *NUMBER_FIELDS, "name", "email")
)
CUSTOM_PREFIX = "custom."
CUSTOM_ANY = "custom.*"

# What a new lead source accepts unless the admin says otherwise: what a contact form asks for.
DEFAULT_WHITELIST: tuple[str, ...] = (
    "first_name",
    "last_name",
    "name",
    "company",
    "title",
    "email",
    "phone",
    "mobile",
    "website",
    "city",
    "country",
    "description",
    "campaign",
)
# A public form never chooses its own source: the lead source it was posted to is the source.
NOT_FOR_FORMS = frozenset({"source"})

# fmt: off
_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": (
        "firstname", "first", "given_name", "fname", "forename",
        "نام", "نام_کوچک", "שם_פרטי", "keresztnév", "keresztnev", "utónév", "utonev",
    ),
    "last_name": (
        "lastname", "last", "surname", "family_name", "lname",
        "نام_خانوادگی", "فامیلی", "שם_משפחה", "vezetéknév", "vezeteknev", "családnév", "csaladnev",
    ),
    "name": (
        "full_name", "fullname", "contact_name", "your_name", "contact",
        "نام_و_نام_خانوادگی", "نام_کامل", "שם_מלא", "שם", "név", "nev", "teljes_név", "teljes_nev",
    ),
    "company": (
        "company_name", "organization", "organisation", "organization_name", "account", "account_name",
        "business", "business_name", "firm",
        "شرکت", "نام_شرکت", "سازمان", "חברה", "שם_חברה", "cég", "ceg", "cégnév", "cegnev", "vállalat",
    ),
    "title": (
        "job_title", "position", "job", "designation",
        "سمت", "عنوان_شغلی", "תפקיד", "beosztás", "beosztas", "pozíció", "pozicio",
    ),
    "email": (
        "e_mail", "emails", "email_address", "e_mail_address", "mail", "email1", "primary_email",
        "ایمیل", "پست_الکترونیک", "پست_الکترونیکی", "אימייל", "דואל", "דואר_אלקטרוני", "e_mail_cím",
        "email_cím", "email_cim",
    ),
    "phone": (
        "phones", "telephone", "tel", "phone_number", "work_phone", "office_phone", "business_phone",
        "تلفن", "شماره_تلفن", "تلفن_ثابت", "تلفن_محل_کار", "טלפון", "מספר_טלפון", "telefon",
        "telefonszám", "telefonszam",
    ),
    "mobile": (
        "mobile_phone", "cell", "cell_phone", "cellphone", "mobile_number", "mobilephone",
        "موبایل", "تلفن_همراه", "همراه", "شماره_همراه", "شماره_موبایل", "נייד", "טלפון_נייד",
        "mobil", "mobilszám", "mobilszam", "mobiltelefon",
    ),
    "home_phone": ("home", "homephone", "تلفن_منزل", "טלפון_בבית", "otthoni_telefon"),
    "fax": ("fax_number", "facsimile", "فکس", "פקס", "telefax"),
    "national_id": (
        "national_code", "nationalid", "id_number", "کد_ملی", "شماره_ملی", "תעודת_זהות", "תז",
        "személyi_szám", "szemelyi_szam",
    ),
    "messenger_id": (
        "messenger", "telegram", "whatsapp", "telegram_id",
        "تلگرام", "واتساپ", "پیام_رسان", "شناسه_پیام_رسان",
    ),
    "website": (
        "web", "url", "site", "web_site", "homepage", "website_url",
        "وب_سایت", "وبسایت", "سایت", "אתר", "אתר_אינטרנט", "weboldal", "honlap",
    ),
    "street": (
        "address", "street_address", "address_line", "address1", "mailing_street",
        "آدرس", "نشانی", "כתובת", "רחוב", "cím", "cim", "utca",
    ),
    "city": ("town", "mailing_city", "شهر", "עיר", "város", "varos", "település", "telepules"),
    "region": ("state", "province", "county", "state_province", "استان", "מחוז", "megye"),
    "postal_code": (
        "zip", "zip_code", "zipcode", "postcode", "post_code", "postal",
        "کد_پستی", "מיקוד", "irányítószám", "iranyitoszam",
    ),
    "country": ("country_code", "کشور", "מדינה", "ország", "orszag"),
    "industry": ("sector", "صنعت", "ענף", "iparág", "iparag"),
    "annual_revenue": ("revenue", "yearly_revenue", "درآمد_سالانه", "מחזור_שנתי", "árbevétel", "arbevetel"),
    "employee_count": (
        "employees", "number_of_employees", "no_of_employees", "headcount",
        "تعداد_کارکنان", "تعداد_کارمندان", "מספר_עובדים", "létszám", "letszam",
    ),
    "rating": ("lead_rating", "رتبه", "דירוג", "értékelés"),
    "description": (
        "message", "comments", "comment", "notes", "note", "details", "your_message", "inquiry", "enquiry",
        "توضیحات", "پیام", "یادداشت", "הודעה", "הערות", "תיאור", "megjegyzés", "megjegyzes", "üzenet",
        "uzenet", "leírás", "leiras",
    ),
    "campaign": ("utm_campaign", "campaign_name", "کمپین", "קמפיין", "kampány", "kampany"),
    "source": ("lead_source", "منبع", "מקור", "forrás", "forras"),
    "do_not_email": ("email_opt_out", "no_email", "unsubscribe"),
    "do_not_call": ("no_call", "call_opt_out"),
    "do_not_fax": ("no_fax", "fax_opt_out"),
}
# fmt: on

_SEPARATORS = re.compile(r"[\s\-\u200c\u200d/]+")
_QUOTES = str.maketrans("", "", "\"'\u05f3\u05f4`")
_ARABIC_TO_PERSIAN = str.maketrans("يك", "یک")


def norm_key(raw: str) -> str:
    """Fold a field name or CSV header for alias lookup: case, spacing, hyphens, ZWNJ, quotes."""
    text = raw.strip().lstrip("\ufeff").translate(_QUOTES).translate(_ARABIC_TO_PERSIAN).casefold()
    return _SEPARATORS.sub("_", text).strip("_")


ALIASES: dict[str, str] = {norm_key(name): name for name in CANONICAL}
for _canonical, _names in _ALIASES.items():
    for _alias in _names:
        ALIASES.setdefault(norm_key(_alias), _canonical)


def canonical_name(raw: str) -> str | None:
    """The canonical intake field for a form field name or CSV header, or None when unknown."""
    key = norm_key(raw)
    if key.startswith(CUSTOM_PREFIX):
        custom = key[len(CUSTOM_PREFIX) :]
        return CUSTOM_PREFIX + custom if re.fullmatch(r"[a-z0-9_]{1,64}", custom) else None
    return ALIASES.get(key)


def whitelist_error(name: str) -> str | None:
    """Why ``name`` cannot be in a source's field whitelist (None when it can)."""
    if name == CUSTOM_ANY:
        return None
    if name in NOT_FOR_FORMS:
        return "a public form cannot choose its source; the lead source is the source"
    if name.startswith(CUSTOM_PREFIX):
        return None if canonical_name(name) == name else "custom field keys are [a-z0-9_]{1,64}"
    if name not in CANONICAL:
        return f"unknown intake field; known: {', '.join(sorted(CANONICAL - NOT_FOR_FORMS))}, custom.<key>"
    return None


def is_allowed(name: str, whitelist: Iterable[str] | None) -> bool:
    if whitelist is None:
        return True
    allowed = set(whitelist)
    return name in allowed or (name.startswith(CUSTOM_PREFIX) and CUSTOM_ANY in allowed)


_TRUE = {"1", "true", "yes", "y", "on", "x", "✓", "بله", "آره", "כן", "igen", "t"}
_FALSE = {"", "0", "false", "no", "n", "off", "خیر", "نه", "לא", "nem", "f"}


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).translate(_DIGITS).strip().casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a yes/no value")


def clean_number(value: Any) -> str | None:
    """Digits in any script, thousands separators dropped; '' -> None (unknown)."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(int(value))
    if isinstance(value, int | float):
        return str(value)
    text = str(value).translate(_DIGITS).strip()
    text = text.replace("\u066b", ".")  # Arabic decimal separator
    text = re.sub(r"[\s,_'\u066c\u00a0\u202f]", "", text)  # thousands separators
    return text or None


@dataclass
class MappedInput:
    """A lead input dict built from (name, value) pairs, and where each lead field came from."""

    data: dict[str, Any] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # lead field (or emails.i / phones.i) -> input name
    ignored: list[str] = field(default_factory=list)  # input names not mapped (unknown or not whitelisted)
    errors: dict[str, str] = field(default_factory=dict)  # input name -> reason

    def error_key(self, lead_key: str) -> str:
        """Translate a lead-service error key (``emails.0``, ``phones.1.number``, ``custom_fields.x``)
        into the name the caller used."""
        parts = lead_key.split(".")
        for n in (3, 2, 1):
            candidate = ".".join(parts[:n])
            if candidate in self.origin:
                return self.origin[candidate]
        return lead_key


def _split(value: Any, seps: str) -> list[Any]:
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for v in value:
            out.extend(_split(v, seps))
        return out
    if isinstance(value, dict):
        return [value]
    if value is None:
        return []
    return [p.strip() for p in re.split(f"[{re.escape(seps)}]", str(value)) if p.strip()]


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(_text(v) for v in value if _text(v))
    if value is None:
        return ""
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value).strip()


def _depth(value: Any, limit: int) -> int:
    if limit < 0:
        return 1
    if isinstance(value, dict):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def flatten_json(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A JSON body as (name, value) pairs; ``custom_fields`` objects become ``custom.<key>`` pairs.
    Raises ValueError for values nested deeper than a list of phone objects."""
    pairs: list[tuple[str, Any]] = []
    for name, value in body.items():
        if _depth(value, 3) > 2:
            raise ValueError(f"{name}: values may be nested at most two levels deep")
        if norm_key(name) == "custom_fields" and isinstance(value, dict):
            pairs.extend((f"{CUSTOM_PREFIX}{k}", v) for k, v in value.items())
        else:
            pairs.append((name, value))
    return pairs


def map_fields(
    pairs: Iterable[tuple[str, Any]],
    *,
    whitelist: Iterable[str] | None = None,
    forbidden: Iterable[str] = (),
) -> MappedInput:
    """Map (input name, value) pairs onto lead input fields.

    Names that are unknown, not in ``whitelist`` (None = everything) or ``forbidden`` are listed in
    ``ignored``; malformed values (a yes/no field holding "maybe") are listed in ``errors``.
    """
    allowed = None if whitelist is None else list(whitelist)
    deny = set(forbidden)
    out = MappedInput()
    emails: list[str] = []
    phones: list[dict[str, str]] = []
    custom: dict[str, Any] = {}
    full_name = ""
    full_name_origin = ""
    for raw_name, value in pairs:
        name = canonical_name(raw_name)
        if name is None or name in deny or not is_allowed(name, allowed):
            if raw_name not in out.ignored:
                out.ignored.append(raw_name)
            continue
        if name == "email":
            for v in _split(value, ";,"):
                out.origin[f"emails.{len(emails)}"] = raw_name
                emails.append(_text(v))
        elif name in PHONE_FIELDS:
            for v in _split(value, ";"):
                if isinstance(v, dict):
                    number, kind = _text(v.get("number", "")), str(v.get("kind") or PHONE_FIELDS[name])
                else:
                    number, kind = _text(v), PHONE_FIELDS[name]
                out.origin[f"phones.{len(phones)}"] = raw_name
                phones.append({"number": number, "kind": kind})
        elif name in BOOL_FIELDS:
            try:
                out.data[name] = parse_bool(value)
                out.origin[name] = raw_name
            except ValueError as exc:
                out.errors[raw_name] = str(exc)
        elif name in NUMBER_FIELDS:
            cleaned = clean_number(value)
            if cleaned is not None:
                out.data[name] = cleaned
                out.origin[name] = raw_name
        elif name.startswith(CUSTOM_PREFIX):
            key = name[len(CUSTOM_PREFIX) :]
            if value not in (None, ""):
                custom[key] = value
                out.origin[f"custom_fields.{key}"] = raw_name
        elif name == "name":
            full_name, full_name_origin = _text(value), raw_name
        else:
            text = _text(value)
            if text:
                previous = out.data.get(name)
                out.data[name] = f"{previous}\n{text}" if previous and name == "description" else text
                out.origin.setdefault(name, raw_name)
    if emails:
        out.data["emails"] = emails
    if phones:
        out.data["phones"] = phones
    if custom:
        out.data["custom_fields"] = custom
        out.origin.setdefault("custom_fields", next(iter(out.origin[f"custom_fields.{k}"] for k in custom)))
    if full_name and not out.data.get("first_name") and not out.data.get("last_name"):
        out.data["last_name"] = full_name
        out.origin["last_name"] = full_name_origin
    return out


def canonical_fingerprint(data: Mapping[str, Any], normalise_phone: Any = None, region: str = "") -> str:
    """A stable text form of a mapped input, insensitive to case, spacing and phone formatting, used to
    derive the idempotency key of a submission that brings none."""

    def fold(value: Any) -> Any:
        if isinstance(value, str):
            return " ".join(value.translate(_DIGITS).split()).casefold()
        if isinstance(value, list):
            return [fold(v) for v in value]
        if isinstance(value, dict):
            return {k: fold(v) for k, v in sorted(value.items())}
        return value

    doc: dict[str, Any] = {}
    for key, value in data.items():
        if key == "phones":
            numbers = []
            for p in value:
                number = str(p.get("number", ""))
                try:
                    number = normalise_phone(number, region) if normalise_phone else number
                except ValueError:
                    number = re.sub(r"\D", "", number.translate(_DIGITS))
                numbers.append([number, p.get("kind", "")])
            doc[key] = sorted(numbers)
        elif key == "emails":
            doc[key] = sorted({fold(e) for e in value})
        else:
            doc[key] = fold(value)
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
