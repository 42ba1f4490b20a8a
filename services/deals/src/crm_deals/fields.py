"""Input types shared by the deals REST schemas: text PostgreSQL can store, plausible times and dates,
currency codes and money amounts (422 instead of a 500 for what the database would refuse)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from crm_platform.fields import (
    EARLIEST,
    LATEST,
    Day,
    Text,
    When,
    plausible_date,
    plausible_time,
    storable_text,
)
from pydantic import AfterValidator, Field

__all__ = [
    "EARLIEST",
    "LATEST",
    "Amount",
    "Currency",
    "Day",
    "Text",
    "When",
    "currency_code",
    "plausible_date",
    "plausible_time",
    "storable_text",
]


def currency_code(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError("must be an ISO 4217 code such as EUR, IRR, ILS or HUF")
    return code


Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(currency_code)]
# at most 10^14 (the reports keep amount x probability x 100 in a bigint)
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("100000000000000"), max_digits=17, decimal_places=2)]
