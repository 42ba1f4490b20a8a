from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class InvoiceCreate(BaseModel):
    """A draft invoice; lines, taxes and numbering arrive with the billing issue."""

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    currency: str = Field(pattern=r"^[A-Za-z]{3}$", description="ISO 4217 code, e.g. IRR, EUR, ILS, HUF")
    total: Decimal = Field(ge=0, max_digits=18, decimal_places=2)


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str | None
    customer_id: uuid.UUID
    currency: str
    total: Decimal
    status: str
    owner_id: str | None
    team: str
    created_at: dt.datetime
    updated_at: dt.datetime
