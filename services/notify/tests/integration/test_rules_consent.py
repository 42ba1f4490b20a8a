"""Rules turn leads events into notifications (exactly once), consent and preferences are checked at send
time, templates render per locale with 422 for missing variables, and the gRPC edge is idempotent."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import grpc
import pytest
from crm.leads.v1 import events_pb2, leads_pb2
from crm.notify.v1 import notify_pb2, notify_pb2_grpc
from crm_notify.app import definition
from crm_notify.directory import events as directory_events
from crm_platform.testing.harness import eventually

from .test_delivery import add_provider, send, start, wait_status


async def publish(notify: Any, subject: str, event: Any, event_id: str | None = None) -> str:
    event_id = event_id or str(uuid.uuid4())
    js = notify.runtime.js
    headers = {"Nats-Msg-Id": event_id, "Crm-Event-Type": event.DESCRIPTOR.full_name}
    await js.publish(subject, event.SerializeToString(), headers=headers, stream="CRM_LEADS")
    return event_id


async def rule(notify: Any, **body: Any) -> dict[str, Any]:
    r = await notify.http.post("/api/v1/rules", json=body, headers=notify.auth("manager"))
    assert r.status_code == 201, r.text
    return r.json()


async def test_lead_assigned_delivered_twice_sends_exactly_one_email_to_the_new_owner(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    r = await notify.http.put(
        "/api/v1/directory/users/rep-7",
        headers=notify.auth("admin"),
        json={"display_name": "Kovács Anna", "email": "anna@example.com", "locale": "hu"},
    )
    assert r.status_code == 200
    await rule(
        notify,
        name="tell the new owner",
        event_subject="crm.leads.lead.assigned",
        conditions=[{"field": "owner_id", "op": "exists"}],
        template_key="lead_assigned",
        channel="email",
        recipient="owner",
        purpose="service",
    )
    lead_id = str(uuid.uuid4())
    event = events_pb2.LeadAssigned(lead_id=lead_id, owner_id="rep-7", reason="round robin")
    event_id = await publish(notify, "crm.leads.lead.assigned", event)

    async def one_email() -> bool:
        return len(smtp.handler.to("anna@example.com")) == 1

    try:
        await eventually(one_email, timeout=15)
    except AssertionError:
        r = await notify.http.get("/api/v1/notifications", headers=notify.auth("admin"))
        t = notify.runtime.tables
        async with notify.runtime.sessions() as s:
            from sqlalchemy import select

            dead = (await s.execute(select(t.dead_letter.c.reason))).all()
            inbox = (await s.execute(select(t.inbox.c.consumer))).all()
        raise AssertionError(f"{r.json()} dead={dead} inbox={inbox}") from None
    # JetStream hands the same message to the consumer again (a lost ack): it is a duplicate
    psub = await notify.runtime.js.pull_subscribe("crm.leads.lead.assigned", stream="CRM_LEADS")
    [msg] = await psub.fetch(1, timeout=2.0)
    consumer = next(c for c in notify.runtime.consumers if c.sub.durable == "notify_rules_lead_assigned")
    assert await consumer.process(msg) == "duplicate"
    # and even a replay that bypasses the inbox maps to the same message (idempotency key per rule+event)
    from crm_notify.messages.service import MessageService

    async with notify.runtime.unit_of_work() as s:
        [again] = await MessageService(s).from_event(
            "crm.leads.lead.assigned", {"lead_id": lead_id, "owner_id": "rep-7"}, event_id
        )
    r = await notify.http.get(
        "/api/v1/notifications", params={"recipient": "anna@example.com"}, headers=notify.auth("admin")
    )
    [message] = r.json()["items"]
    assert again.id == uuid.UUID(message["id"]) and message["source_event_id"] == event_id
    await wait_status(notify, message["id"], "sent")
    await psub.unsubscribe()
    assert len(smtp.handler.to("anna@example.com")) == 1
    mail = smtp.handler.to("anna@example.com")[0].message
    assert mail["Subject"] == f"Új érdeklődő: {lead_id}"


async def test_status_change_sends_nurturing_to_the_lead_and_respects_conditions(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    await rule(
        notify,
        name="nurture serious prospects",
        event_subject="crm.leads.lead.status_changed",
        conditions=[{"field": "new_status", "op": "in", "value": ["serious_prospect", "contact_in_future"]}],
        template_key="lead_nurture",
        channel="email",
        recipient="lead",
        purpose="service",
    )
    lead_id = str(uuid.uuid4())
    lead = leads_pb2.Lead(
        id=lead_id, first_name="Reza", company="Acme", emails=["reza@example.com"], country="GB"
    )
    await publish(notify, "crm.leads.lead.created", events_pb2.LeadCreated(lead=lead))
    await publish(
        notify,
        "crm.leads.lead.status_changed",
        events_pb2.LeadStatusChanged(
            lead_id=lead_id, old_status=leads_pb2.LEAD_STATUS_NEW, new_status=leads_pb2.LEAD_STATUS_JUNK
        ),
    )
    await publish(
        notify,
        "crm.leads.lead.status_changed",
        events_pb2.LeadStatusChanged(
            lead_id=lead_id,
            old_status=leads_pb2.LEAD_STATUS_NEW,
            new_status=leads_pb2.LEAD_STATUS_SERIOUS_PROSPECT,
        ),
    )

    async def emailed() -> bool:
        return len(smtp.handler.to("reza@example.com")) >= 1

    await eventually(emailed, timeout=15)
    assert smtp.handler.to("reza@example.com")[0].message["Subject"] == "Thank you for your interest, Reza"
    r = await notify.http.get("/api/v1/notifications", headers=notify.auth("admin"))
    assert len(r.json()["items"]) == 1  # the junk status matched no rule


async def test_a_message_to_the_lead_waits_for_the_leads_data_when_its_event_comes_first(crm, smtp):
    """leads publishes created, assigned and status_changed together. If the status change is handled
    while notify's directory does not know the lead yet, the rule waits for a redelivery instead of
    rendering "Thank you for your interest, " (the directory could commit the lead between the rule's
    read and the address look-up); after LEAD_WAIT_DELIVERIES deliveries it goes on (nothing dropped)."""
    from crm_notify.directory.exceptions import LeadNotProjectedYet
    from crm_notify.directory.service import DirectoryService
    from crm_notify.messages.service import LEAD_WAIT_DELIVERIES, MessageService

    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    await rule(
        notify,
        name="nurture",
        event_subject="crm.leads.lead.status_changed",
        conditions=[{"field": "new_status", "op": "in", "value": ["serious_prospect"]}],
        template_key="lead_nurture",
        channel="email",
        recipient="lead",
        purpose="service",
    )
    lead_id = str(uuid.uuid4())
    event = {"lead_id": lead_id, "old_status": "new", "new_status": "serious_prospect"}
    for delivery in range(1, LEAD_WAIT_DELIVERIES):
        with pytest.raises(LeadNotProjectedYet, match="not in the directory yet"):
            async with notify.runtime.unit_of_work() as s:
                await MessageService(s).from_event(
                    "crm.leads.lead.status_changed", event, "ev-1", deliveries=delivery
                )
    async with notify.runtime.unit_of_work() as s:  # the lead.created event is applied meanwhile
        lead = leads_pb2.Lead(id=lead_id, first_name="Sara", emails=["sara@example.com"], country="GB")
        await DirectoryService(s).project_lead(directory_events.lead_values(lead), dt.datetime.now(dt.UTC))
    async with notify.runtime.unit_of_work() as s:
        [message] = await MessageService(s).from_event(
            "crm.leads.lead.status_changed", event, "ev-1", deliveries=LEAD_WAIT_DELIVERIES
        )
    await wait_status(notify, str(message.id), "sent")
    [mail] = smtp.handler.to("sara@example.com")
    assert mail.message["Subject"] == "Thank you for your interest, Sara"

    # a rule to someone else (the owner) never waits for the lead's data
    await rule(
        notify,
        name="tell the owner",
        event_subject="crm.leads.lead.assigned",
        template_key="lead_assigned",
        channel="email",
        recipient="owner",
        purpose="service",
    )
    unknown = str(uuid.uuid4())
    async with notify.runtime.unit_of_work() as s:
        out = await MessageService(s).from_event(
            "crm.leads.lead.assigned", {"lead_id": unknown, "owner_id": "rep-9"}, "ev-2", deliveries=1
        )
    assert len(out) == 1


async def test_consent_double_opt_in_unsubscribe_and_quiet_hours(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    admin = notify.auth("admin")
    marketing = {
        "recipient": "sara@example.com",
        "channel": "email",
        "purpose": "marketing",
        "subject": "News",
        "body_text": "Our spring offer",
    }
    first = await send(notify, marketing)
    history = await wait_status(notify, first["id"], "suppressed")
    assert history["message"]["status_reason"] == "no_marketing_consent"

    r = await notify.http.post(
        "/api/v1/contact-points/email/sara@example.com/consents/marketing/opt-in-request",
        json={"locale": "en", "source": "web form"},
        headers=admin,
    )
    assert r.status_code == 202 and r.json()["status"] == "pending"
    await wait_status(notify, r.json()["confirmation_message_id"], "sent")
    pending = await send(notify, {**marketing, "body_text": "second"})
    assert (await wait_status(notify, pending["id"], "suppressed"))["message"][
        "status_reason"
    ] == "marketing_opt_in_unconfirmed"
    confirm_mail = smtp.handler.to("sara@example.com")[0].message.get_body(("plain",)).get_content()
    link = next(w for w in confirm_mail.split() if "/public/consents/confirm?token=" in w)
    path = link.split("127.0.0.1:8084", 1)[1]
    assert (await notify.http.get(path)).status_code == 200  # GET only shows the form
    assert (await notify.http.post(path)).status_code == 200
    assert (await notify.http.post(path)).status_code == 404  # one-time link

    ok = await send(notify, {**marketing, "body_text": "third"})
    await wait_status(notify, ok["id"], "sent")
    mail = smtp.handler.to("sara@example.com")[-1].message
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = mail["List-Unsubscribe"].strip("<>").split("127.0.0.1:8084", 1)[1]
    assert (await notify.http.post(unsubscribe)).status_code == 200
    after = await send(notify, {**marketing, "body_text": "fourth"})
    assert (await wait_status(notify, after["id"], "suppressed"))["message"][
        "status_reason"
    ] == "opted_out:marketing"
    # transactional mail still goes out after a marketing opt-out
    receipt = await send(notify, {**marketing, "purpose": "transactional", "body_text": "your invoice"})
    await wait_status(notify, receipt["id"], "sent")

    # quiet hours all day long in Tehran defer service messages, not transactional ones
    r = await notify.http.put(
        "/api/v1/contact-points/email/night@example.com/preferences",
        headers=admin,
        json={"timezone": "Asia/Tehran", "quiet_start": "00:00", "quiet_end": "23:59:59"},
    )
    assert r.status_code == 200, r.text
    quiet = await send(
        notify,
        {
            "recipient": "night@example.com",
            "channel": "email",
            "purpose": "service",
            "subject": "Reminder",
            "body_text": "x",
        },
    )
    history = await wait_status(notify, quiet["id"], "deferred")
    assert history["message"]["status_reason"].startswith("quiet_hours until")


async def test_templates_preview_missing_variables_and_crud(crm):
    notify = await crm.start(definition)
    manager = notify.auth("manager")
    r = await notify.http.post(
        "/api/v1/templates/preview",
        headers=manager,
        json={
            "channel": "sms",
            "locale": "fa",
            "body_text": "{{ name }}، قسط {{ amount|number }} ریال تا {{ due|date }}",
            "data": {"name": "علی", "amount": 1250000, "due": "2026-03-21"},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["direction"] == "rtl"
    assert body["body_text"] == "علی، قسط ۱٬۲۵۰٬۰۰۰ ریال تا ۱ فروردین ۱۴۰۵"  # noqa: RUF001
    assert body["sms"]["encoding"] == "ucs2" and body["sms"]["segments"] == 1
    r = await notify.http.post(
        "/api/v1/templates/preview",
        headers=manager,
        json={"key": "lead_assigned", "locale": "he", "data": {"lead_id": "x"}},
    )
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"data.lead", "data.user"}
    r = await notify.http.post(
        "/api/v1/notifications",
        headers=manager,
        json={"recipient": "x@example.com", "template": "lead_assigned", "data": {}},
    )
    assert r.status_code == 422 and r.json()["type"].endswith("/validation-error")

    t = {
        "key": "invoice_due",
        "channel": "email",
        "locale": "hu",
        "subject": "Számla {{ number }}",
        "body_text": "Esedékes: {{ due|date }}",
    }
    r = await notify.http.post("/api/v1/templates", json=t, headers=manager)
    assert r.status_code == 201 and r.json()["variables"] == ["due", "number"]
    assert (await notify.http.post("/api/v1/templates", json=t, headers=manager)).status_code == 409
    assert (
        await notify.http.post("/api/v1/templates", json=t, headers=notify.auth("rep"))
    ).status_code == 403
    bad = {**t, "locale": "en", "body_text": "{% if %}"}
    assert (await notify.http.post("/api/v1/templates", json=bad, headers=manager)).status_code == 422


async def test_grpc_send_is_idempotent_and_readable(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    stub = notify_pb2_grpc.NotifyServiceStub(notify.grpc_channel)
    request = notify_pb2.SendNotificationRequest(
        recipient="billing@example.com",
        channel=notify_pb2.CHANNEL_EMAIL,
        subject="Invoice 7",
        body_text="Please find it attached",
        idempotency_key="invoice-7-sent",
        purpose=notify_pb2.PURPOSE_TRANSACTIONAL,
    )
    first = await stub.SendNotification(request, metadata=notify.service_metadata())
    again = await stub.SendNotification(request, metadata=notify.service_metadata())
    assert first.message_id == again.message_id and not first.duplicate and again.duplicate
    changed = notify_pb2.SendNotificationRequest()
    changed.CopyFrom(request)
    changed.body_text = "different"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SendNotification(changed, metadata=notify.service_metadata())
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SendNotification(
            notify_pb2.SendNotificationRequest(
                recipient="x@example.com", template="lead_assigned", data_json=json.dumps({})
            ),
            metadata=notify.service_metadata(),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    async def sent() -> bool:
        got = await stub.GetNotification(
            notify_pb2.GetNotificationRequest(message_id=first.message_id), metadata=notify.service_metadata()
        )
        return got.notification.status == notify_pb2.MESSAGE_STATUS_SENT

    await eventually(sent, timeout=15)
    assert len(smtp.handler.to("billing@example.com")) == 1
