"""NATS event handlers of the notify domain: convert the event, call the service."""

from __future__ import annotations

from typing import Any

from crm.leads.v1.events_pb2 import LeadCreated
from crm_platform.inbox import EventContext, Subscription
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.notify import events
from crm_notify.notify.schemas import ObservedEventIn
from crm_notify.notify.service import ObservedEventService


async def on_lead_created(session: AsyncSession, event: LeadCreated, ctx: EventContext) -> None:
    data = ObservedEventIn(
        event_id=ctx.event_id,
        subject=ctx.subject,
        aggregate_id=event.lead.id,
        summary=events.lead_created_summary(event),
        occurred_at=events.occurred_at(event),
    )
    await ObservedEventService(session).record(data)


subscriptions: list[Subscription[Any]] = [
    Subscription(
        durable="notify_on_lead_created",
        subject=events.LEAD_CREATED,
        message_type=LeadCreated,
        handler=on_lead_created,
    ),
]
