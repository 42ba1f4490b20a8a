from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    invoice_id: str
    customer_kind: str
    customer_id: uuid.UUID
    amount: Decimal
    currency: str
    paid_at: dt.datetime


class LifecycleOut(BaseModel):
    customer_kind: str
    customer_id: uuid.UUID
    buyer_status: str
    paid_invoices: int
    first_paid_at: dt.datetime | None
    last_paid_at: dt.datetime | None
    payments: list[PaymentOut]
