"""Outbox relay and inbox consumers against real PostgreSQL and real nats-server (JetStream).

The leads service's database is the host schema (it carries the platform tables)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import nats
from crm.leads.v1 import events_pb2, leads_pb2
from crm_leads.app import definition
from crm_leads.db import tables
from crm_platform import embedded
from crm_platform.errors import PermanentEventError
from crm_platform.inbox import Consumer, Subscription
from crm_platform.repository import InboxRepository
from crm_platform.testing.harness import eventually
from sqlalchemy import func, select, text

SUBJECT = "crm.leads.lead.created"


async def _outbox_rows(svc):
    async with svc.runtime.sessions() as s:
        return (await s.execute(select(tables.outbox).order_by(tables.outbox.c.seq))).all()


async def test_outbox_event_survives_a_nats_outage(crm, tmp_path: Path):
    port = embedded.free_port()
    server = embedded.start_nats(tmp_path / "nats", port)
    try:
        leads = await crm.start(definition, nats_url=server.url)
        r = await leads.http.post("/api/v1/leads", json={"company": "Before"}, headers=leads.auth())
        assert r.status_code == 201

        async def first_published():
            rows = await _outbox_rows(leads)
            return len(rows) == 1 and rows[0].published_at is not None

        await eventually(first_published)

        server.stop()
        r = await leads.http.post("/api/v1/leads", json={"company": "During"}, headers=leads.auth())
        assert r.status_code == 201, "intake must not depend on NATS"

        async def failed_attempt():
            rows = await _outbox_rows(leads)
            return rows[1].attempts >= 1 and rows[1].last_error

        await eventually(failed_attempt, timeout=15)
        assert (await _outbox_rows(leads))[1].published_at is None

        server = embedded.start_nats(tmp_path / "nats", port)

        async def all_published():
            return all(row.published_at is not None for row in await _outbox_rows(leads))

        await eventually(all_published, timeout=20)
        nc = await nats.connect(server.url)
        try:
            info = await nc.jetstream().stream_info("CRM_LEADS")
            assert info.state.messages == 2, "each event is in the stream exactly once"
        finally:
            await nc.close()
    finally:
        server.stop()


async def test_relay_reconnects_after_its_database_connection_is_killed(crm):
    """The relay runs on its own connection; when the database drops it (restart, failover, an
    admin's pg_terminate_backend), the next round opens a new one and every event is still published
    exactly once."""
    leads = await crm.start(definition)

    async def relay_backends() -> list[int]:
        async with leads.runtime.sessions() as s:
            rows = await s.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'crm-leads-relay'"
                )
            )
            return list(rows.scalars())

    async def all_published():
        rows = await _outbox_rows(leads)
        return bool(rows) and all(row.published_at is not None for row in rows)

    async def in_stream() -> int:
        return (await leads.runtime.js.stream_info("CRM_LEADS")).state.messages

    r = await leads.http.post("/api/v1/leads", json={"company": "Before"}, headers=leads.auth())
    assert r.status_code == 201
    await eventually(all_published)
    rows_before, stream_before = len(await _outbox_rows(leads)), await in_stream()
    backends = await relay_backends()
    assert len(backends) == 1, backends
    async with leads.runtime.sessions() as s:
        assert (await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backends[0]})).scalar()
    await eventually(lambda: _no_backend(relay_backends, backends[0]))

    for company in ("After 1", "After 2"):
        r = await leads.http.post("/api/v1/leads", json={"company": company}, headers=leads.auth())
        assert r.status_code == 201
    await eventually(all_published, timeout=20)
    new_rows = len(await _outbox_rows(leads)) - rows_before
    assert new_rows >= 2
    assert await in_stream() - stream_before == new_rows, "each new event is in the stream exactly once"
    reconnected = await relay_backends()
    assert len(reconnected) == 1 and reconnected[0] != backends[0]


async def _no_backend(relay_backends, pid: int) -> bool:
    return pid not in await relay_backends()


async def test_events_carry_the_callers_trace(crm):
    """Creates under callers' W3C traceparents write events that continue each caller's trace (in
    the message headers and in the event's metadata), also when concurrent creates share one
    transaction (group commit): no event is filed under another request's trace."""
    leads = await crm.start(definition)
    traces = {f"Co {i}": f"{i + 1:032x}" for i in range(8)}

    async def create(company: str, trace_id: str) -> None:
        headers = {**leads.auth(), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
        r = await leads.http.post("/api/v1/leads", json={"company": company}, headers=headers)
        assert r.status_code == 201

    batches = leads.runtime.group_commits
    await asyncio.gather(*(create(company, trace_id) for company, trace_id in traces.items()))
    committer = batches["create-lead"]
    assert committer.batches < committer.items, "some creates shared a transaction"
    created = [r for r in await _outbox_rows(leads) if r.subject == SUBJECT]
    assert len(created) == len(traces)
    spans = set()
    for row in created:
        event = events_pb2.LeadCreated.FromString(row.payload)
        _, trace_id, span_id, _ = row.headers["traceparent"].split("-")
        assert trace_id == traces[event.lead.company], event.lead.company
        assert span_id != "00f067aa0ba902b7"  # the service's own span, a child of the caller's
        spans.add(span_id)
        assert event.metadata.traceparent == row.headers["traceparent"]
    assert len(spans) == len(traces)  # a span per request


def _event(lead_id: str) -> bytes:
    return events_pb2.LeadCreated(lead=leads_pb2.Lead(id=lead_id, company="X")).SerializeToString()


async def _publish(js, payload: bytes, event_id: str, event_type: str = "crm.leads.v1.LeadCreated"):
    await js.publish(SUBJECT, payload, headers={"Nats-Msg-Id": event_id, "Crm-Event-Type": event_type})


def _consumer(svc, durable: str, handler, **kw) -> Consumer:
    sub = Subscription(
        durable=durable,
        subject=SUBJECT,
        message_type=events_pb2.LeadCreated,
        handler=handler,
        ack_wait=1.0,
        retry_delays=(0.2, 0.2, 0.2),
        **kw,
    )
    return Consumer("test", sub, svc.runtime.sessions, tables, svc.runtime.js)


async def _fetch(consumer: Consumer, timeout: float = 3.0):
    if consumer._psub is None:
        await consumer.subscribe()
    try:
        return await consumer._psub.fetch(1, timeout=timeout)
    except (TimeoutError, nats.errors.TimeoutError):
        return []


async def _inbox_count(svc, durable: str, event_id: str) -> int:
    async with svc.runtime.sessions() as s:
        return await InboxRepository(s, tables).count_applied(durable, event_id)


async def test_redelivered_event_is_applied_once(crm):
    leads = await crm.start(definition)
    applied: list[str] = []

    async def handler(session, event, ctx):
        applied.append(event.lead.id)

    consumer = _consumer(leads, "test_redelivery", handler)
    event_id = str(uuid.uuid4())
    await _publish(leads.runtime.js, _event("L1"), event_id)

    [msg] = await _fetch(consumer)

    async def lost_ack() -> None:  # the process dies after commit, before the ack reaches NATS
        return None

    msg.ack = lost_ack
    assert await consumer.process(msg) == "applied"
    [again] = await _fetch(consumer)  # redelivered after ack_wait
    assert again.metadata.num_delivered == 2
    assert await consumer.process(again) == "duplicate"
    assert applied == ["L1"]
    assert await _inbox_count(leads, "test_redelivery", event_id) == 1
    assert await _fetch(consumer, timeout=1.5) == []


async def test_handler_exception_does_not_ack_and_rolls_back_the_inbox_row(crm):
    leads = await crm.start(definition)
    calls: list[int] = []

    async def flaky(session, event, ctx):
        calls.append(ctx.deliveries)
        if ctx.deliveries == 1:
            raise ConnectionError("database hiccup")

    consumer = _consumer(leads, "test_flaky", flaky)
    event_id = str(uuid.uuid4())
    await _publish(leads.runtime.js, _event("L2"), event_id)
    [msg] = await _fetch(consumer)
    assert await consumer.process(msg) == "retry"
    assert await _inbox_count(leads, "test_flaky", event_id) == 0
    [again] = await _fetch(consumer)
    assert await consumer.process(again) == "applied"
    assert calls == [1, 2]
    assert await _inbox_count(leads, "test_flaky", event_id) == 1


async def test_malformed_event_is_terminated_and_recorded(crm):
    leads = await crm.start(definition)
    called: list[str] = []

    async def handler(session, event, ctx):
        called.append(ctx.event_id)

    consumer = _consumer(leads, "test_poison", handler)
    bad_id = str(uuid.uuid4())
    await _publish(leads.runtime.js, b"\xff\xff\xff not protobuf", bad_id)
    [msg] = await _fetch(consumer)
    assert await consumer.process(msg) == "dead"
    assert await _fetch(consumer, timeout=2.0) == [], "a terminated message is not redelivered"
    assert called == []
    async with leads.runtime.sessions() as s:
        [dead] = await InboxRepository(s, tables).dead_letters("test_poison")
    assert dead.event_id == bad_id and "undecodable" in dead.reason
    assert dead.payload.startswith(b"\xff\xff\xff")


async def test_rejected_and_exhausted_events_go_to_dead_letters(crm):
    leads = await crm.start(definition)

    async def reject(session, event, ctx):
        if event.lead.id == "poison":
            raise PermanentEventError("lead id is not a UUID")
        raise TimeoutError("downstream never answers")

    consumer = _consumer(leads, "test_reject", reject, max_deliver=2)
    await _publish(leads.runtime.js, _event("poison"), str(uuid.uuid4()))
    await _publish(leads.runtime.js, _event("L3"), str(uuid.uuid4()))
    outcomes = []
    for _ in range(3):
        msgs = await _fetch(consumer)
        assert msgs, outcomes
        outcomes.append(await consumer.process(msgs[0]))
    assert outcomes == ["dead", "retry", "dead"]
    async with leads.runtime.sessions() as s:
        reasons = [d.reason for d in await InboxRepository(s, tables).dead_letters("test_reject")]
        inbox = await s.scalar(select(func.count()).select_from(tables.inbox))
    assert reasons[0].startswith("rejected: lead id") and reasons[1].startswith("gave up after 2 deliveries")
    assert inbox == 0
