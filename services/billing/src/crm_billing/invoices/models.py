from __future__ import annotations

import uuid
from decimal import Decimal

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import Numeric, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_billing.db import Base

DRAFT, ISSUED, PAID, VOID = "draft", "issued", "paid", "void"


class Invoice(IdMixin, TimestampMixin, Base):
    __tablename__ = "invoice"

    number: Mapped[str | None] = mapped_column(String(40), unique=True)  # gapless, given when issued
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # a deals contact or organization
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Numeric(18, 2))
    status: Mapped[str] = mapped_column(String(20), default=DRAFT, index=True)
    owner_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100), default="")
