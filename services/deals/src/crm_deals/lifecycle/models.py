from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from crm_platform.db import utcnow
from sqlalchemy import DateTime, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_deals.db import Base


class CustomerPayment(Base):
    """One paid invoice per row (keyed by invoice id, so a re-published payment counts once)."""

    __tablename__ = "customer_payment"
    __table_args__ = (Index("ix_customer_payment_customer", "customer_kind", "customer_id", "paid_at"),)

    invoice_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_kind: Mapped[str] = mapped_column(String(20))
    customer_id: Mapped[uuid.UUID] = mapped_column()
    amount: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    event_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
