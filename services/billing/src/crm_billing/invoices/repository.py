from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_billing.invoices.models import DRAFT, Invoice


class InvoiceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, invoice: Invoice) -> Invoice:
        self.session.add(invoice)
        await self.session.flush()
        return invoice

    async def get(self, invoice_id: uuid.UUID) -> Invoice | None:
        return await self.session.get(Invoice, invoice_id)

    async def set_status_of_drafts_untouched_since(
        self, cutoff: dt.datetime, status: str, now: dt.datetime
    ) -> list[uuid.UUID]:
        stmt = (
            update(Invoice)
            .where(Invoice.status == DRAFT, Invoice.updated_at < cutoff)
            .values(status=status, updated_at=now)
            .returning(Invoice.id)
        )
        return list((await self.session.scalars(stmt)).all())
