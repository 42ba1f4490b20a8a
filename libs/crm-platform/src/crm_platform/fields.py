"""Input types for REST/gRPC schemas that keep out what PostgreSQL would refuse (422 instead of 500):
text without NUL or unpaired surrogates, and times/dates in a plausible range."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

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
    """Keeps times (and what is computed from them) far from datetime's limits."""
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 1970 and 2200")
    return value


def plausible_date(value: dt.date) -> dt.date:
    if not EARLIEST.date() <= value < LATEST.date():
        raise ValueError("must be between 1970 and 2200")
    return value


Text = Annotated[str, AfterValidator(storable_text)]
When = Annotated[AwareDatetime, AfterValidator(plausible_time)]
Day = Annotated[dt.date, AfterValidator(plausible_date)]
