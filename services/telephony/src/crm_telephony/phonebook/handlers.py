"""NATS event handlers of the phonebook: convert the event, call the service. Each record's events are
applied in the order they happened (the service skips one older than the latest applied)."""

from __future__ import annotations

from typing import Any

from crm.deals.v1.events_pb2 import ContactCreated, ContactUpdated, OrganizationCreated, OrganizationUpdated
from crm.leads.v1.events_pb2 import LeadCreated, LeadMerged, LeadUpdated
from crm_platform.inbox import EventContext, Subscription
from sqlalchemy.ext.asyncio import AsyncSession

from crm_telephony.phonebook import events
from crm_telephony.phonebook.service import PhoneIndexService


async def on_lead_created(session: AsyncSession, event: LeadCreated, ctx: EventContext) -> None:
    when = events.occurred_at(event.metadata, ctx)
    await PhoneIndexService(session).index_record(events.lead_record(event), when)


async def on_lead_updated(session: AsyncSession, event: LeadUpdated, ctx: EventContext) -> None:
    when = events.occurred_at(event.metadata, ctx)
    await PhoneIndexService(session).index_record(events.lead_record(event), when)


async def on_lead_merged(session: AsyncSession, event: LeadMerged, ctx: EventContext) -> None:
    when = events.occurred_at(event.metadata, ctx)
    await PhoneIndexService(session).merge_record(events.lead_record(event), event.merged_lead_id, when)


async def on_contact_created(session: AsyncSession, event: ContactCreated, ctx: EventContext) -> None:
    when = events.occurred_at(event.metadata, ctx)
    await PhoneIndexService(session).index_record(events.contact_record(event), when)


async def on_contact_updated(session: AsyncSession, event: ContactUpdated, ctx: EventContext) -> None:
    when = events.occurred_at(event.metadata, ctx)
    await PhoneIndexService(session).index_record(events.updated_contact_record(event), when)


async def on_organization_created(
    session: AsyncSession, event: OrganizationCreated, ctx: EventContext
) -> None:
    when = events.occurred_at(event.metadata, ctx)
    await PhoneIndexService(session).index_record(events.organization_record(event.organization), when)


async def on_organization_updated(
    session: AsyncSession, event: OrganizationUpdated, ctx: EventContext
) -> None:
    when = events.occurred_at(event.metadata, ctx)
    await PhoneIndexService(session).index_record(events.organization_record(event.organization), when)


subscriptions: list[Subscription[Any]] = [
    Subscription(
        durable="telephony_on_lead_created",
        subject=events.LEAD_CREATED,
        message_type=LeadCreated,
        handler=on_lead_created,
    ),
    Subscription(
        durable="telephony_on_lead_updated",
        subject=events.LEAD_UPDATED,
        message_type=LeadUpdated,
        handler=on_lead_updated,
    ),
    Subscription(
        durable="telephony_on_lead_merged",
        subject=events.LEAD_MERGED,
        message_type=LeadMerged,
        handler=on_lead_merged,
    ),
    Subscription(
        durable="telephony_on_contact_created",
        subject=events.CONTACT_CREATED,
        message_type=ContactCreated,
        handler=on_contact_created,
    ),
    Subscription(
        durable="telephony_on_contact_updated",
        subject=events.CONTACT_UPDATED,
        message_type=ContactUpdated,
        handler=on_contact_updated,
    ),
    Subscription(
        durable="telephony_on_organization_created",
        subject=events.ORGANIZATION_CREATED,
        message_type=OrganizationCreated,
        handler=on_organization_created,
    ),
    Subscription(
        durable="telephony_on_organization_updated",
        subject=events.ORGANIZATION_UPDATED,
        message_type=OrganizationUpdated,
        handler=on_organization_updated,
    ),
]
