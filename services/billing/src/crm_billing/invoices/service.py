"""Invoices (walking skeleton: drafts, reads and draft expiry). Flushes, never commits."""

from __future__ import annotations

import datetime as dt
import uuid

from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_billing.invoices.exceptions import InvoiceNotFound
from crm_billing.invoices.models import DRAFT, VOID, Invoice
from crm_billing.invoices.repository import InvoiceRepository
from crm_billing.invoices.schemas import InvoiceCreate


class InvoiceService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = InvoiceRepository(session)

    async def create_draft(self, data: InvoiceCreate, who: Principal) -> Invoice:
        invoice = Invoice(
            id=new_id(),
            number=None,
            customer_id=data.customer_id,
            currency=data.currency.upper(),
            total=data.total,
            status=DRAFT,
            owner_id=None if who.is_admin or who.is_manager else who.subject,
            team=who.team,
        )
        return await self.repo.add(invoice)

    async def get(self, invoice_id: uuid.UUID, who: Principal) -> Invoice:
        invoice = await self.repo.get(invoice_id)
        if invoice is None or not who.can_see(invoice.owner_id, invoice.team):
            raise InvoiceNotFound(f"invoice {invoice_id} does not exist or is not yours")
        return invoice

    async def expire_drafts(self, ttl_days: int, now: dt.datetime | None = None) -> list[uuid.UUID]:
        """Void drafts nobody touched for ``ttl_days`` days (a draft never got a number, so no gap)."""
        if ttl_days < 1:
            raise ValidationFailed({"ttl_days": "must be at least 1"})
        now = now or utcnow()
        return await self.repo.set_status_of_drafts_untouched_since(
            now - dt.timedelta(days=ttl_days), VOID, now
        )
