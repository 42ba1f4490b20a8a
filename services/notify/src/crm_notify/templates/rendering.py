"""Template rendering: Jinja2 sandbox with strict variables, locale-aware filters (Jalali dates and
Persian digits for fa), and an RTL-safe HTML e-mail layout. Pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jdatetime
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import SandboxedEnvironment

LOCALES = ("fa", "he", "hu", "en")
RTL_LOCALES = frozenset({"fa", "he"})
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_HU_MONTHS = (
    "január február március április május június július augusztus szeptember október november december"
).split()
_HE_MONTHS = "ינואר פברואר מרץ אפריל מאי יוני יולי אוגוסט ספטמבר אוקטובר נובמבר דצמבר".split()
_EN_MONTHS = "January February March April May June July August September October November December".split()
_FA_MONTHS = "فروردین اردیبهشت خرداد تیر مرداد شهریور مهر آبان آذر دی بهمن اسفند".split()


class RenderError(ValueError):
    """A template cannot be rendered with the given data; ``fields`` maps a field to the reason."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def direction(locale: str) -> str:
    return "rtl" if locale in RTL_LOCALES else "ltr"


def localise_digits(text: str, locale: str) -> str:
    return text.translate(_PERSIAN_DIGITS) if locale == "fa" else text


def _as_datetime(value: Any) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime | dt.date):
        return value
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return dt.date.fromisoformat(value)
        return parsed
    raise ValueError(f"not a date: {value!r}")


def format_date(value: Any, locale: str, tz: str = "UTC", with_time: bool = False) -> str:
    """A date (or datetime, shown in ``tz``) in the locale's calendar: Jalali with Persian digits for fa."""
    when = _as_datetime(value)
    if isinstance(when, dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        try:
            when = when.astimezone(ZoneInfo(tz))
        except (ZoneInfoNotFoundError, ValueError):
            when = when.astimezone(dt.UTC)
        day: dt.date = when.date()
        clock = f"{when.hour:02d}:{when.minute:02d}"
    else:
        day, clock = when, ""
    if locale == "fa":
        j = jdatetime.date.fromgregorian(date=day)
        text = f"{j.day} {_FA_MONTHS[j.month - 1]} {j.year}"
    elif locale == "he":
        text = f"{day.day} ב{_HE_MONTHS[day.month - 1]} {day.year}"
    elif locale == "hu":
        text = f"{day.year}. {_HU_MONTHS[day.month - 1]} {day.day}."
    else:
        text = f"{day.day} {_EN_MONTHS[day.month - 1]} {day.year}"
    if with_time and clock:
        text = f"{text}، {clock}" if locale == "fa" else f"{text} {clock}"
    return localise_digits(text, locale)


def format_number(value: Any, locale: str, places: int | None = None) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    text = f"{number:,.{places}f}" if places is not None else f"{number:,}"
    if locale == "fa":
        return text.replace(",", "٬").replace(".", "٫").translate(_PERSIAN_DIGITS)  # noqa: RUF001
    if locale == "hu":
        return text.replace(",", "\u00a0").replace(".", ",")
    return text


def _environment(locale: str, tz: str, autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=False)
    env.filters["date"] = lambda v: format_date(v, locale, tz)
    env.filters["datetime"] = lambda v: format_date(v, locale, tz, with_time=True)
    env.filters["number"] = lambda v, places=None: format_number(v, locale, places)
    env.filters["digits"] = lambda v: localise_digits(str(v), locale)
    return env


def variables(*sources: str | None) -> set[str]:
    """Top-level variables the sources use (for required-variable checks before rendering)."""
    env = _environment("en", "UTC", autoescape=False)
    found: set[str] = set()
    for source in sources:
        if source:
            try:
                found |= meta.find_undeclared_variables(env.parse(source))
            except TemplateSyntaxError as exc:
                raise RenderError({"template": f"syntax error on line {exc.lineno}: {exc.message}"}) from None
    return found


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


def render_one(source: str, data: Mapping[str, Any], locale: str, tz: str, *, html_mode: bool) -> str:
    env = _environment(locale, tz, autoescape=html_mode)
    try:
        return env.from_string(source).render(**data)
    except UndefinedError as exc:
        raise RenderError({"data": str(exc.message or exc)}) from None
    except TemplateSyntaxError as exc:
        raise RenderError({"template": f"syntax error on line {exc.lineno}: {exc.message}"}) from None
    except (ValueError, TypeError) as exc:
        raise RenderError({"data": str(exc)}) from None


def render(
    subject: str,
    text: str,
    html_body: str | None,
    data: Mapping[str, Any],
    locale: str,
    tz: str = "UTC",
) -> Rendered:
    """Render subject/text/HTML; every missing top-level variable is reported at once."""
    missing = sorted(variables(subject, text, html_body) - set(data))
    if missing:
        raise RenderError({f"data.{name}": "is required by the template" for name in missing})
    return Rendered(
        subject=render_one(subject, data, locale, tz, html_mode=False).strip(),
        text=render_one(text, data, locale, tz, html_mode=False),
        html=render_one(html_body, data, locale, tz, html_mode=True) if html_body else None,
    )


def text_to_html(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def email_layout(content_html: str, subject: str, locale: str, unsubscribe_url: str | None = None) -> str:
    """Wrap content in an e-mail layout that stays right-to-left for fa/he in clients that drop <html dir>:
    ``dir`` and explicit ``direction``/``text-align`` on every block, ``<bdi>`` for the subject."""
    d = direction(locale)
    start = "right" if d == "rtl" else "left"
    font = "Tahoma,Vazirmatn,'Noto Sans Hebrew',Arial,sans-serif" if d == "rtl" else "Arial,sans-serif"
    block = f'dir="{d}" style="direction:{d};text-align:{start};font-family:{font};'
    footer = ""
    if unsubscribe_url:
        label = {
            "fa": "لغو اشتراک",
            "he": "הסרה מרשימת התפוצה",
            "hu": "Leiratkozás",
            "en": "Unsubscribe",
        }.get(locale, "Unsubscribe")
        footer = (
            f'<tr><td {block}font-size:12px;color:#666;padding:16px 24px">'
            f'<a href="{html.escape(unsubscribe_url)}">{label}</a></td></tr>'
        )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{locale}" dir="{d}">\n<head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(subject)}</title></head>\n"
        f'<body {block}margin:0;padding:0">\n'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" {block}">\n'
        f'<tr><td {block}padding:24px;line-height:1.6"><h1 {block}font-size:18px">'
        f"<bdi>{html.escape(subject)}</bdi></h1>\n{content_html}\n</td></tr>\n{footer}</table>\n</body>\n</html>\n"
    )
