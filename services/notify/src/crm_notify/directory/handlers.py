"""NATS handlers that keep notify's lead contact projection current."""

from __future__ import annotations

from typing import Any

from crm.leads.v1.events_pb2 import LeadCreated, LeadMerged, LeadUpdated
from crm_platform.inbox import EventContext, Subscription
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.directory import events
from crm_notify.directory.service import DirectoryService


async def on_lead_changed(session: AsyncSession, event: Any, ctx: EventContext) -> None:
    if event.lead.id:
        await DirectoryService(session).project_lead(events.lead_values(event.lead), events.occurred(event))


subscriptions: list[Subscription[Any]] = [
    Subscription(
        durable="notify_directory_lead_created",
        subject=events.LEAD_CREATED,
        message_type=LeadCreated,
        handler=on_lead_changed,
    ),
    Subscription(
        durable="notify_directory_lead_updated",
        subject=events.LEAD_UPDATED,
        message_type=LeadUpdated,
        handler=on_lead_changed,
    ),
    Subscription(
        durable="notify_directory_lead_merged",
        subject=events.LEAD_MERGED,
        message_type=LeadMerged,
        handler=on_lead_changed,
    ),
]
