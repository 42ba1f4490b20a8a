"""All SQL of the customer lifecycle: paid invoices per customer."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.lifecycle.models import CustomerPayment
from crm_deals.organizations.models import Contact, Organization


class LifecycleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_customer(self, kind: str, customer_id: uuid.UUID) -> Organization | Contact | None:
        if kind == "organization":
            org = select(Organization).where(Organization.id == customer_id).with_for_update()
            return (await self.session.scalars(org.execution_options(populate_existing=True))).first()
        contact = select(Contact).where(Contact.id == customer_id).with_for_update()
        return (await self.session.scalars(contact.execution_options(populate_existing=True))).first()

    async def add_payment(
        self,
        *,
        invoice_id: str,
        kind: str,
        customer_id: uuid.UUID,
        amount: Decimal,
        currency: str,
        paid_at: dt.datetime,
        event_id: str,
    ) -> bool:
        """False when this invoice was already counted."""
        stmt = (
            pg_insert(CustomerPayment)
            .values(
                invoice_id=invoice_id,
                customer_kind=kind,
                customer_id=customer_id,
                amount=amount,
                currency=currency,
                paid_at=paid_at,
                event_id=event_id,
            )
            .on_conflict_do_nothing()
            .returning(CustomerPayment.invoice_id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def counts(
        self, kind: str, customer_id: uuid.UUID, window_start: dt.datetime
    ) -> tuple[int, int, dt.datetime | None, dt.datetime | None]:
        """(all paid invoices, those paid since ``window_start``, first and last payment time)."""
        stmt = select(
            func.count(),
            func.count().filter(CustomerPayment.paid_at >= window_start),
            func.min(CustomerPayment.paid_at),
            func.max(CustomerPayment.paid_at),
        ).where(CustomerPayment.customer_kind == kind, CustomerPayment.customer_id == customer_id)
        total, recent, first, last = (await self.session.execute(stmt)).one()
        return int(total), int(recent), first, last

    async def payments(self, kind: str, customer_id: uuid.UUID) -> list[CustomerPayment]:
        stmt = (
            select(CustomerPayment)
            .where(CustomerPayment.customer_kind == kind, CustomerPayment.customer_id == customer_id)
            .order_by(CustomerPayment.paid_at)
        )
        return list((await self.session.scalars(stmt)).all())
