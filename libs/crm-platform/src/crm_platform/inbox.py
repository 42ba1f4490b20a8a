"""Idempotent JetStream pull consumers with an inbox.

For every message: decode the protobuf payload (undecodable → dead letter + ``term``), then in one DB
transaction insert the inbox row ``(consumer, event_id)`` and run the handler; commit, then ``ack``.
A redelivered message whose inbox row exists is acked without running the handler again.
Transient failures → ``nak(delay)`` growing with the delivery count; ``PermanentEventError`` or the last
allowed delivery → dead letter + ``term``. A message is never acked when its handler raised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_platform import observability as obs
from crm_platform.db import transaction
from crm_platform.errors import PermanentEventError
from crm_platform.nats import stream_name_for
from crm_platform.outbox import HEADER_EVENT_TYPE, HEADER_MSG_ID
from crm_platform.repository import InboxRepository
from crm_platform.tables import PlatformTables

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Message)

RETRY_DELAYS = (1.0, 5.0, 30.0, 120.0, 600.0)


@dataclass(frozen=True)
class EventContext:
    """What a handler knows about the message besides its payload."""

    event_id: str
    subject: str
    headers: dict[str, str]
    deliveries: int


Handler = Callable[[AsyncSession, Any, EventContext], Awaitable[None]]


@dataclass
class Subscription(Generic[E]):
    """One durable consumer: ``<consumer>_<purpose>`` on one subject of another service's stream."""

    durable: str
    subject: str
    message_type: type[E]
    handler: Handler
    producer: str = ""
    max_deliver: int = 10
    ack_wait: float = 30.0
    batch: int = 64
    retry_delays: tuple[float, ...] = field(default=RETRY_DELAYS)

    @property
    def stream(self) -> str:
        producer = self.producer or self.subject.split(".")[1]
        return stream_name_for(producer)


def retry_delay(deliveries: int, delays: tuple[float, ...] = RETRY_DELAYS) -> float:
    return delays[min(max(deliveries, 1), len(delays)) - 1]


class Consumer:
    """Runs one Subscription: fetch, process one by one, ack/nak/term."""

    def __init__(
        self,
        service: str,
        subscription: Subscription[Any],
        sessions: async_sessionmaker[AsyncSession],
        tables: PlatformTables,
        js: JetStreamContext,
    ) -> None:
        self.service = service
        self.sub = subscription
        self.sessions = sessions
        self.tables = tables
        self.js = js
        self._stopping = False
        self._psub: Any = None

    def stop(self) -> None:
        self._stopping = True

    async def subscribe(self) -> None:
        config = ConsumerConfig(
            durable_name=self.sub.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.sub.subject,
            max_deliver=self.sub.max_deliver,
            ack_wait=self.sub.ack_wait,
            max_ack_pending=max(self.sub.batch * 4, 256),
        )
        self._psub = await self.js.pull_subscribe(
            self.sub.subject, durable=self.sub.durable, stream=self.sub.stream, config=config
        )

    async def poll(self, timeout: float = 1.0) -> int:
        """Fetch and process one batch; returns how many messages were handled."""
        if self._psub is None:
            await self.subscribe()
        try:
            msgs = await self._psub.fetch(self.sub.batch, timeout=timeout)
        except (TimeoutError, NatsTimeoutError):
            return 0
        for msg in msgs:
            await self.process(msg)
        return len(msgs)

    async def run(self) -> None:
        backoff = 0.5
        lag_at = 0.0
        loop = asyncio.get_running_loop()
        while not self._stopping:
            try:
                await self.poll()
                backoff = 0.5
                if loop.time() - lag_at > 5.0:
                    lag_at = loop.time()
                    info = await self._psub.consumer_info()
                    obs.CONSUMER_LAG.labels(self.service, self.sub.durable).set(info.num_pending or 0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s: %s; retrying in %.1fs", self.sub.durable, exc, backoff)
                self._psub = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def process(self, msg: Msg) -> str:
        """Handle one message; returns the outcome: applied, duplicate, retry, dead."""
        headers = dict(msg.headers or {})
        deliveries = msg.metadata.num_delivered if msg.metadata else 1
        event_id = headers.get(HEADER_MSG_ID) or ""
        outcome = await self._process(msg, headers, event_id, deliveries)
        obs.CONSUMER_MESSAGES.labels(self.service, self.sub.durable, outcome).inc()
        return outcome

    async def _process(self, msg: Msg, headers: dict[str, str], event_id: str, deliveries: int) -> str:
        expected = self.sub.message_type.DESCRIPTOR.full_name
        event_type = headers.get(HEADER_EVENT_TYPE, expected)
        if not event_id:
            return await self._dead(msg, headers, None, deliveries, "missing Nats-Msg-Id header")
        if event_type != expected:
            return await self._dead(msg, headers, event_id, deliveries, f"unexpected type {event_type}")
        try:
            event = self.sub.message_type.FromString(msg.data)
        except DecodeError as exc:
            return await self._dead(msg, headers, event_id, deliveries, f"undecodable payload: {exc}")
        ctx = EventContext(event_id=event_id, subject=msg.subject, headers=headers, deliveries=deliveries)
        try:
            with obs.span_from_headers(f"consume {self.sub.durable}", headers):
                async with transaction(self.sessions) as session:
                    fresh = await InboxRepository(session, self.tables).try_record(
                        self.sub.durable, event_id, msg.subject
                    )
                    if fresh:
                        await self.sub.handler(session, event, ctx)
        except PermanentEventError as exc:
            return await self._dead(msg, headers, event_id, deliveries, f"rejected: {exc}")
        except Exception as exc:
            if deliveries >= self.sub.max_deliver:
                return await self._dead(
                    msg, headers, event_id, deliveries, f"gave up after {deliveries} deliveries: {exc!r}"
                )
            delay = retry_delay(deliveries, self.sub.retry_delays)
            log.warning(
                "consumer %s: event %s failed (%r); nak in %.0fs", self.sub.durable, event_id, exc, delay
            )
            await msg.nak(delay=delay)
            return "retry"
        await msg.ack()
        return "applied" if fresh else "duplicate"

    async def _dead(
        self, msg: Msg, headers: dict[str, str], event_id: str | None, deliveries: int, reason: str
    ) -> str:
        log.error("consumer %s: dead letter for %s: %s", self.sub.durable, event_id, reason)
        async with transaction(self.sessions) as session:
            await InboxRepository(session, self.tables).add_dead_letter(
                consumer=self.sub.durable,
                event_id=event_id,
                subject=msg.subject,
                headers=headers,
                payload=msg.data,
                reason=reason,
                deliveries=deliveries,
            )
        await msg.term()
        return "dead"
