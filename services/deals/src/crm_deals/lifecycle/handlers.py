"""NATS handlers of the customer lifecycle: billing's crm.billing.invoice.paid (thin: proto -> service)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm.billing.v1.events_pb2 import InvoicePaid
from crm_platform.inbox import EventContext, Subscription
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.lifecycle.events import INVOICE_PAID
from crm_deals.lifecycle.service import LifecycleService


async def on_invoice_paid(session: AsyncSession, event: InvoicePaid, ctx: EventContext) -> None:
    if event.HasField("paid_at"):
        paid_at = event.paid_at.ToDatetime(tzinfo=dt.UTC)
    elif event.metadata.HasField("occurred_at"):
        paid_at = event.metadata.occurred_at.ToDatetime(tzinfo=dt.UTC)
    else:
        paid_at = dt.datetime.now(dt.UTC)
    await LifecycleService(session).record_payment(
        event_id=ctx.event_id,
        invoice_id=event.invoice_id,
        customer_id=event.customer_id,
        customer_kind=event.customer_kind,
        amount=event.total.amount,
        currency=event.total.currency_code,
        paid_at=paid_at,
    )


subscriptions: list[Subscription[Any]] = [
    Subscription(
        durable="deals_customer_lifecycle",
        subject=INVOICE_PAID,
        message_type=InvoicePaid,
        handler=on_invoice_paid,
    )
]
