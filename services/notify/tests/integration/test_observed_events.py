"""notify consumes crm.leads.lead.created from a running leads service into its observed-event log."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
from crm.notify.v1 import notify_pb2, notify_pb2_grpc
from crm_leads.app import definition as leads_definition
from crm_notify.app import definition
from crm_notify.models import ObservedEvent
from crm_notify.notify.repository import ObservedEventRepository
from crm_notify.notify.schemas import ObservedEventIn
from crm_notify.notify.service import ObservedEventService
from crm_notify.notify.tasks import purge_observed_events
from crm_platform.testing.harness import eventually
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

LEAD_CREATED = "crm.leads.lead.created"
PROBLEM = "application/problem+json"


async def _count(notify, event_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(ObservedEvent)
    if event_id is not None:
        stmt = stmt.where(ObservedEvent.event_id == event_id)
    async with notify.runtime.sessions() as s:
        return int(await s.scalar(stmt) or 0)


async def test_a_lead_created_in_leads_is_observed_by_notify(crm):
    leads = await crm.start(leads_definition)
    notify = await crm.start(definition)
    body = {
        "first_name": "Ali",
        "last_name": "Rezaei",
        "company": "Acme",
        "phones": [{"number": "09123456789"}],
    }
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth("rep", sub="rep-1"))
    assert r.status_code == 201, r.text
    lead_id = r.json()["id"]

    manager = notify.auth("manager", sub="m-1")

    async def observed():
        r = await notify.http.get(
            "/api/v1/observed-events", params={"subject": LEAD_CREATED}, headers=manager
        )
        return r.json()["items"]

    items = await eventually(observed, timeout=20.0)  # a bound for a hung run, not a latency figure
    assert len(items) == 1
    event = items[0]
    assert event["subject"] == LEAD_CREATED and event["aggregate_id"] == lead_id
    assert event["summary"]["lead_id"] == lead_id
    assert event["summary"]["name"] == "Ali Rezaei"
    assert event["summary"]["owner_id"] == "rep-1"
    assert event["occurred_at"] is not None

    # the event id is the one leads wrote to its outbox (Nats-Msg-Id), and it can be read back by id
    async with leads.runtime.sessions() as s:
        outbox_ids = [str(i) for i in (await s.scalars(select(leads.runtime.tables.outbox.c.id))).all()]
    assert event["event_id"] in outbox_ids
    r = await notify.http.get(f"/api/v1/observed-events/{event['event_id']}", headers=manager)
    assert r.status_code == 200 and r.json()["summary"]["company"] == "Acme"


async def test_a_redelivered_event_is_applied_once(crm):
    leads = await crm.start(leads_definition)
    notify = await crm.start(definition)
    r = await leads.http.post("/api/v1/leads", json={"company": "Once Ltd"}, headers=leads.auth())
    assert r.status_code == 201

    async def applied():
        return await _count(notify) == 1

    await eventually(applied, timeout=20.0)

    # Fetch the very same stream message again (same Nats-Msg-Id) and hand it to notify's consumer,
    # as JetStream does when an ack is lost: it must be acknowledged as a duplicate and change nothing.
    nc = leads.runtime.nc
    assert nc is not None
    psub = await nc.jetstream().pull_subscribe(LEAD_CREATED, stream="CRM_LEADS")
    [msg] = await psub.fetch(1, timeout=2.0)
    consumer = next(c for c in notify.runtime.consumers if c.sub.durable == "notify_on_lead_created")
    assert await consumer.process(msg) == "duplicate"
    assert await _count(notify, msg.headers["Nats-Msg-Id"]) == 1
    assert await _count(notify) == 1
    await psub.unsubscribe()


async def test_only_admins_and_managers_read_observed_events(crm):
    notify = await crm.start(definition)
    async with notify.runtime.unit_of_work() as s:
        service = ObservedEventService(s)
        for i, subject in enumerate([LEAD_CREATED, LEAD_CREATED, "crm.deals.contact.created"]):
            await service.record(ObservedEventIn(event_id=f"e-{i}", subject=subject, aggregate_id=f"a-{i}"))

    r = await notify.http.get("/api/v1/observed-events", headers=notify.auth("rep"))
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    assert (
        await notify.http.get("/api/v1/observed-events/e-0", headers=notify.auth("rep"))
    ).status_code == 403
    assert (await notify.http.get("/api/v1/observed-events")).status_code == 401

    r = await notify.http.get("/api/v1/observed-events", headers=notify.auth("admin"))
    assert [e["event_id"] for e in r.json()["items"]] == ["e-2", "e-1", "e-0"]  # newest first
    r = await notify.http.get(
        "/api/v1/observed-events",
        params={"subject": LEAD_CREATED, "limit": 1},
        headers=notify.auth("manager"),
    )
    assert [e["event_id"] for e in r.json()["items"]] == ["e-1"]
    r = await notify.http.get("/api/v1/observed-events", params={"limit": 0}, headers=notify.auth())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "limit"
    r = await notify.http.get("/api/v1/observed-events/no-such-event", headers=notify.auth())
    assert r.status_code == 404 and r.json()["type"].endswith("/observed-event-not-found")


async def test_send_notification_needs_a_caller_and_the_service_reports_ready(crm):
    notify = await crm.start(definition)
    stub = notify_pb2_grpc.NotifyServiceStub(notify.grpc_channel)
    request = notify_pb2.SendNotificationRequest(recipient="a@example.com", channel=notify_pb2.CHANNEL_EMAIL)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SendNotification(request)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    health = health_pb2_grpc.HealthStub(notify.grpc_channel)

    async def serving() -> bool:
        resp = await health.Check(health_pb2.HealthCheckRequest(service="crm.notify.v1.NotifyService"))
        return resp.status == health_pb2.HealthCheckResponse.SERVING

    await eventually(serving, timeout=5)
    r = await notify.http.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "schema": "ok", "nats": "ok"}


async def test_purge_task_deletes_only_events_past_retention_in_a_real_worker(crm):
    notify = await crm.start(definition, celery_worker=True)
    now = dt.datetime.now(dt.UTC)
    async with notify.runtime.unit_of_work() as s:
        repo = ObservedEventRepository(s)
        for event_id, age in (("old", 40), ("recent", 5)):
            await repo.add_once(
                {
                    "event_id": event_id,
                    "subject": LEAD_CREATED,
                    "aggregate_id": "x",
                    "summary": {},
                    "received_at": now - dt.timedelta(days=age),
                }
            )

    result = purge_observed_events.delay(30)

    async def purged():
        return await _count(notify, "old") == 0

    await eventually(purged, timeout=20)
    assert await _count(notify, "recent") == 1
    assert result.get(timeout=10) == 1
