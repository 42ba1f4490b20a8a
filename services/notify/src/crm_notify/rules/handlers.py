"""NATS handlers: every event a rule may react to goes through the matching rules into messages."""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import EventContext, Subscription
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.messages.service import MessageService
from crm_notify.rules.events import RULE_EVENTS, event_data


async def on_rule_event(session: AsyncSession, event: Any, ctx: EventContext) -> None:
    await MessageService(session).from_event(ctx.subject, event_data(event), ctx.event_id, ctx.deliveries)


subscriptions: list[Subscription[Any]] = [
    Subscription(
        durable=f"notify_rules_{subject.split('.', 2)[2].replace('.', '_')}",
        subject=subject,
        message_type=message_type,
        handler=on_rule_event,
    )
    for subject, message_type in RULE_EVENTS.items()
]
