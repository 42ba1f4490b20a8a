"""NATS event handlers of the phonebook: convert the event, call the service."""

from __future__ import annotations

from typing import Any

from crm.deals.v1.events_pb2 import ContactCreated
from crm.leads.v1.events_pb2 import LeadCreated
from crm_platform.inbox import EventContext, Subscription
from sqlalchemy.ext.asyncio import AsyncSession

from crm_telephony.phonebook import events
from crm_telephony.phonebook.service import PhoneIndexService


async def on_lead_created(session: AsyncSession, event: LeadCreated, ctx: EventContext) -> None:
    await PhoneIndexService(session).index_record(events.lead_record(event))


async def on_contact_created(session: AsyncSession, event: ContactCreated, ctx: EventContext) -> None:
    await PhoneIndexService(session).index_record(events.contact_record(event))


subscriptions: list[Subscription[Any]] = [
    Subscription(
        durable="telephony_on_lead_created",
        subject=events.LEAD_CREATED,
        message_type=LeadCreated,
        handler=on_lead_created,
    ),
    Subscription(
        durable="telephony_on_contact_created",
        subject=events.CONTACT_CREATED,
        message_type=ContactCreated,
        handler=on_contact_created,
    ),
]
