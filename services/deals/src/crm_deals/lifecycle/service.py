"""Customer lifecycle from billing's paid invoices: one paid invoice makes a one-time buyer, a second a
returning buyer, ``regular_invoices`` within ``window_days`` a regular buyer. Each invoice counts once
(keyed by invoice id, on top of the consumer's inbox). Flushes, never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation

from crm_platform.auth import Principal
from crm_platform.errors import PermanentEventError
from crm_platform.outbox import add_event
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.db import tables
from crm_deals.lifecycle import events
from crm_deals.lifecycle.repository import LifecycleRepository
from crm_deals.lifecycle.schemas import LifecycleOut, PaymentOut
from crm_deals.organizations.models import Contact, Organization
from crm_deals.organizations.service import OrganizationService

KINDS = ("organization", "contact")


def buyer_status(total: int, recent: int, regular_invoices: int = 3) -> str:
    if total <= 0:
        return "prospect"
    if recent >= regular_invoices:
        return "regular"
    if total >= 2:
        return "returning"
    return "one_time"


class LifecycleService:
    def __init__(self, session: AsyncSession, regular_invoices: int = 3, window_days: int = 365) -> None:
        self.session = session
        self.repo = LifecycleRepository(session)
        self.regular_invoices = regular_invoices
        self.window = dt.timedelta(days=window_days)

    async def _customer(self, kind: str, customer_id: uuid.UUID) -> tuple[str, Organization | Contact]:
        for candidate in (kind,) if kind else KINDS:
            found = await self.repo.lock_customer(candidate, customer_id)
            if found is not None:
                return candidate, found
        raise PermanentEventError(f"no {kind or 'organization or contact'} {customer_id} in deals")

    async def record_payment(
        self,
        *,
        event_id: str,
        invoice_id: str,
        customer_id: str,
        customer_kind: str,
        amount: str,
        currency: str,
        paid_at: dt.datetime,
    ) -> str | None:
        """Count one paid invoice; returns the customer's new buyer status when it changed."""
        if customer_kind and customer_kind not in KINDS:
            raise PermanentEventError(f"unknown customer kind {customer_kind!r}")
        if not invoice_id or len(invoice_id) > 64:
            raise PermanentEventError("invoice_id is missing or too long")
        try:
            ident = uuid.UUID(customer_id)
            value = Decimal(amount or "0")
            if not value.is_finite():
                raise InvalidOperation
        except (ValueError, InvalidOperation):
            raise PermanentEventError(f"bad customer id or amount: {customer_id!r}, {amount!r}") from None
        kind, customer = await self._customer(customer_kind, ident)
        fresh = await self.repo.add_payment(
            invoice_id=invoice_id,
            kind=kind,
            customer_id=ident,
            amount=value.quantize(Decimal("0.01")),
            currency=(currency or "").upper()[:3],
            paid_at=paid_at,
            event_id=event_id,
        )
        if not fresh:
            return None
        total, recent, first, last = await self.repo.counts(kind, ident, paid_at - self.window)
        old = customer.buyer_status
        customer.paid_invoices = total
        customer.first_paid_at = first
        customer.last_paid_at = last
        customer.buyer_status = buyer_status(total, recent, self.regular_invoices)
        await self.session.flush()
        if customer.buyer_status == old:
            return None
        await add_event(
            self.session,
            tables,
            events.CUSTOMER_LIFECYCLE_CHANGED,
            events.lifecycle_changed(kind, customer, old),
            producer="deals",
            aggregate_id=str(customer.id),
        )
        return customer.buyer_status

    async def lifecycle(self, kind: str, customer_id: uuid.UUID, who: Principal) -> LifecycleOut:
        """A visible customer's buyer status with its paid invoices."""
        organizations = OrganizationService(self.session)
        customer: Organization | Contact
        if kind == "organization":
            customer = await organizations.get_organization(customer_id, who)
        else:
            customer = await organizations.get_contact(customer_id, who)
        payments = await self.repo.payments(kind, customer_id)
        return LifecycleOut(
            customer_kind=kind,
            customer_id=customer.id,
            buyer_status=customer.buyer_status,
            paid_invoices=customer.paid_invoices,
            first_paid_at=customer.first_paid_at,
            last_paid_at=customer.last_paid_at,
            payments=[PaymentOut.model_validate(p) for p in payments],
        )
