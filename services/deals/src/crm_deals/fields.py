"""Input types shared by the deals REST schemas: text PostgreSQL can store, plausible times and dates,
currency codes and money amounts (422 instead of a 500 for what the database would refuse)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, Field

EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def storable_text(value: str) -> str:
    """PostgreSQL text takes neither NUL nor unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def plausible_time(value: dt.datetime) -> dt.datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970 and 2200")
    return value


def plausible_date(value: dt.date) -> dt.date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("must be between 1970 and 2200")
    return value


def currency_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError("must be an ISO 4217 code such as EUR, IRR, ILS or HUF")
    return code


Text = Annotated[str, AfterValidator(storable_text)]
When = Annotated[AwareDatetime, AfterValidator(plausible_time)]
Day = Annotated[dt.date, AfterValidator(plausible_date)]
Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(currency_code)]
# at most 10^14 (the reports keep amount x probability x 100 in a bigint)
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("100000000000000"), max_digits=17, decimal_places=2)]
