"""Pipelines, opportunities, stage history, the stalled alert with snooze (Celery beat task in a real
worker), duplicates of organizations/contacts, and the customer lifecycle fed by billing's InvoicePaid
over a real NATS JetStream."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import nats
from crm.billing.v1 import events_pb2 as billing_events
from crm.deals.v1 import events_pb2
from crm_deals.app import definition
from crm_deals.db import tables
from crm_deals.opportunities.tasks import alert_stalled_opportunities
from crm_platform.nats import ensure_stream
from crm_platform.outbox import build_headers
from crm_platform.testing.harness import eventually
from sqlalchemy import select, text


async def outbox(deals, subject: str) -> list:
    async with deals.runtime.sessions() as s:
        stmt = select(tables.outbox).where(tables.outbox.c.subject == subject).order_by(tables.outbox.c.seq)
        return list((await s.execute(stmt)).all())


async def default_stages(deals) -> dict[str, dict]:
    [pipeline] = (await deals.http.get("/api/v1/pipelines", headers=deals.auth("rep"))).json()
    assert pipeline["is_default"]
    return {s["name"]: s for s in pipeline["stages"]}


async def test_pipelines_stages_and_roles(crm):
    deals = await crm.start(definition, wait_nats=False)
    stages = await default_stages(deals)
    assert [(s["kind"], s["probability"], s["forecast_category"]) for s in stages.values()] == [
        ("open", 10, "pipeline"),
        ("open", 25, "pipeline"),
        ("open", 50, "best_case"),
        ("open", 75, "commit"),
        ("won", 100, "closed"),
        ("lost", 0, "omitted"),
    ]
    body = {
        "name": "Renewals",
        "stages": [
            {"name": "Due", "probability": 60, "forecast_category": "best_case", "max_days_in_stage": 30},
            {"name": "Quoted", "probability": 85, "forecast_category": "commit"},
        ],
        "is_default": True,
    }
    assert (
        await deals.http.post("/api/v1/pipelines", json=body, headers=deals.auth("manager"))
    ).status_code == 403
    r = await deals.http.post("/api/v1/pipelines", json=body, headers=deals.auth("admin"))
    assert r.status_code == 201, r.text
    renewals = r.json()
    assert [(s["name"], s["position"], s["probability"]) for s in renewals["stages"]] == [
        ("Due", 1, 60),
        ("Quoted", 2, 85),
        ("Closed won", 3, 100),
        ("Closed lost", 4, 0),
    ]
    listed = (await deals.http.get("/api/v1/pipelines", headers=deals.auth("rep"))).json()
    assert [(p["name"], p["is_default"]) for p in listed] == [("Renewals", True), ("Sales", False)]
    won = renewals["stages"][2]["id"]
    path = f"/api/v1/pipelines/{renewals['id']}/stages/{won}"
    r = await deals.http.patch(path, json={"probability": 90}, headers=deals.auth("admin"))
    assert r.status_code == 422  # closed-won stays 100
    r = await deals.http.patch(path, json={"name": "Renewed"}, headers=deals.auth("admin"))
    assert r.status_code == 200 and r.json()["name"] == "Renewed"
    bad = {**body, "stages": [body["stages"][0], body["stages"][0]]}
    assert (await deals.http.post("/api/v1/pipelines", json=bad, headers=deals.auth())).status_code == 422


async def test_opportunity_moves_through_stages_with_full_history(crm):
    deals = await crm.start(definition, wait_nats=False)
    stages = await default_stages(deals)
    rep = deals.auth("rep", sub="rep-1", team="t1")
    org = (await deals.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=rep)).json()
    r = await deals.http.post("/api/v1/opportunities", json={"name": "Licences"}, headers=rep)
    assert r.status_code == 422  # needs an organization or a contact
    r = await deals.http.post(
        "/api/v1/opportunities",
        json={"name": "Licences", "organization_id": org["id"], "amount": "1200.50", "next_step": "demo"},
        headers=rep,
    )
    assert r.status_code == 201, r.text
    opp = r.json()
    assert (opp["stage_id"], opp["probability"], opp["status"], opp["currency"], opp["owner_id"]) == (
        stages["Qualification"]["id"],
        10,
        "open",
        "EUR",
        "rep-1",
    )
    path = f"/api/v1/opportunities/{opp['id']}"
    r = await deals.http.post(
        f"{path}/stage", json={"stage_id": stages["Proposal"]["id"], "reason": "demo done"}, headers=rep
    )
    assert (r.json()["probability"], r.json()["forecast_category"]) == (50, "best_case")
    r = await deals.http.post(f"{path}/stage", json={"stage_id": stages["Closed lost"]["id"]}, headers=rep)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lost_reason"
    r = await deals.http.post(
        f"{path}/stage", json={"stage_id": stages["Closed lost"]["id"], "lost_reason": "price"}, headers=rep
    )
    lost = r.json()
    assert (lost["status"], lost["probability"], lost["lost_reason"]) == ("lost", 0, "price")
    assert lost["closed_at"] and lost["expected_close_date"] == dt.datetime.now(dt.UTC).date().isoformat()
    r = await deals.http.post(f"{path}/stage", json={"stage_id": stages["Closed won"]["id"]}, headers=rep)
    assert (r.json()["status"], r.json()["probability"], r.json()["lost_reason"]) == ("won", 100, "")

    history = (await deals.http.get(f"{path}/stage-history", headers=rep)).json()
    names = {s["id"]: n for n, s in stages.items()}
    assert [(names.get(h["from_stage_id"]), names[h["to_stage_id"]], h["changed_by"]) for h in history] == [
        (None, "Qualification", "rep-1"),
        ("Qualification", "Proposal", "rep-1"),
        ("Proposal", "Closed lost", "rep-1"),
        ("Closed lost", "Closed won", "rep-1"),
    ]
    assert history[0]["seconds_in_from_stage"] is None and all(
        h["seconds_in_from_stage"] >= 0 for h in history[1:]
    )
    assert history[1]["reason"] == "demo done"
    changes = [
        events_pb2.OpportunityStageChanged.FromString(r.payload)
        for r in await outbox(deals, "crm.deals.opportunity.stage_changed")
    ]
    assert [names[c.to_stage_id] for c in changes] == ["Proposal", "Closed lost", "Closed won"]
    assert len(await outbox(deals, "crm.deals.opportunity.created")) == 1

    # roles: another rep does not see it, the team's manager does, another team's does not
    assert (await deals.http.get(path, headers=deals.auth("rep", sub="rep-2"))).status_code == 404
    assert (await deals.http.get(path, headers=deals.auth("manager", team="t1"))).status_code == 200
    assert (await deals.http.get(path, headers=deals.auth("manager", team="t2"))).status_code == 404
    r = await deals.http.patch(path, json={"owner_id": "rep-2"}, headers=rep)
    assert r.status_code == 403
    r = await deals.http.patch(path, json={"owner_id": "rep-2"}, headers=deals.auth("manager", team="t1"))
    assert r.status_code == 200 and r.json()["owner_id"] == "rep-2"
    listed = (
        await deals.http.get(
            "/api/v1/opportunities", params={"status": "won"}, headers=deals.auth("rep", sub="rep-2")
        )
    ).json()
    assert [o["id"] for o in listed["items"]] == [opp["id"]]

    # activities on the opportunity
    r = await deals.http.post(
        f"{path}/activities",
        json={"kind": "task", "subject": "Call back"},
        headers=deals.auth("rep", sub="rep-2"),
    )
    assert r.status_code == 422  # a task needs due_at
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    r = await deals.http.post(
        f"{path}/activities",
        json={"kind": "task", "subject": "Call back", "due_at": due},
        headers=deals.auth("rep", sub="rep-2"),
    )
    assert r.status_code == 201, r.text
    task = r.json()
    assert task["owner_id"] == "rep-2" and task["done_at"] is None and task["organization_id"] == org["id"]
    r = await deals.http.post(
        f"/api/v1/deal-activities/{task['id']}/complete", headers=deals.auth("rep", sub="rep-2")
    )
    assert r.status_code == 200 and r.json()["done_at"]


async def test_stalled_alert_once_per_stint_and_snooze(crm):
    deals = await crm.start(definition, celery_worker=True)
    stages = await default_stages(deals)  # Qualification: 14 days
    rep = deals.auth("rep", sub="rep-1", team="t1")
    org = (await deals.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=rep)).json()
    opp_ids = []
    for name in ("old", "fresh", "snoozed"):
        r = await deals.http.post(
            "/api/v1/opportunities", json={"name": name, "organization_id": org["id"]}, headers=rep
        )
        opp_ids.append(r.json()["id"])
    old, _fresh, snoozed = opp_ids
    async with deals.runtime.unit_of_work() as s:
        await s.execute(
            text("UPDATE opportunity SET stage_entered_at = now() - interval '20 days' WHERE id = ANY(:ids)"),
            {"ids": [uuid.UUID(old), uuid.UUID(snoozed)]},
        )
    until = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=7)).isoformat()
    r = await deals.http.post(
        f"/api/v1/opportunities/{snoozed}/snooze",
        json={"until": until, "reason": "CFO on leave"},
        headers=rep,
    )
    assert r.status_code == 201, r.text
    r = await deals.http.post(
        f"/api/v1/opportunities/{snoozed}/snooze", json={"until": "2020-01-01", "reason": "x"}, headers=rep
    )
    assert r.status_code == 422
    assert (
        await deals.http.post(
            f"/api/v1/opportunities/{snoozed}/snooze",
            json={"until": until, "reason": "x"},
            headers=deals.auth("rep", sub="rep-2"),
        )
    ).status_code == 404

    run = lambda: alert_stalled_opportunities.delay().get(timeout=30)  # noqa: E731
    assert await asyncio.to_thread(run) == 1
    assert await asyncio.to_thread(run) == 0  # once per stint
    [row] = await outbox(deals, "crm.deals.opportunity.stalled")
    event = events_pb2.OpportunityStalled.FromString(row.payload)
    assert (
        event.opportunity_id,
        event.owner_id,
        event.days_in_stage,
        event.max_days_in_stage,
        event.stage_name,
    ) == (
        old,
        "rep-1",
        20,
        14,
        "Qualification",
    )
    # the snooze ends: alerted again; a stage move starts a new stint
    async with deals.runtime.unit_of_work() as s:
        await s.execute(
            text("UPDATE opportunity SET snoozed_until = current_date WHERE id = :id"),
            {"id": uuid.UUID(snoozed)},
        )
    assert await asyncio.to_thread(run) == 1
    r = await deals.http.post(
        f"/api/v1/opportunities/{old}/stage", json={"stage_id": stages["Proposal"]["id"]}, headers=rep
    )
    assert r.status_code == 200
    assert await asyncio.to_thread(run) == 0
    snoozes = (await deals.http.get(f"/api/v1/opportunities/{snoozed}/snoozes", headers=rep)).json()
    assert [(s["reason"], s["snoozed_by"]) for s in snoozes] == [("CFO on leave", "rep-1")]

    async def published():
        return all(r.published_at is not None for r in await outbox(deals, "crm.deals.opportunity.stalled"))

    await eventually(published, timeout=5)


async def test_duplicates_are_flagged_never_blocked(crm):
    deals = await crm.start(definition, wait_nats=False)
    admin = deals.auth("admin", team="t1")
    first = (
        await deals.http.post(
            "/api/v1/organizations",
            json={"name": "Acme Kft.", "domain": "acme.hu", "phones": [{"number": "+36 1 234 5678"}]},
            headers=admin,
        )
    ).json()
    r = await deals.http.post(
        "/api/v1/organizations", json={"name": "ACME", "domain": "www.acme.hu"}, headers=admin
    )
    assert r.status_code == 201
    assert [(d["id"], d["matched_on"]) for d in r.json()["duplicates"]] == [
        (first["id"], ["company", "domain"])
    ]
    r = await deals.http.post(
        "/api/v1/organizations",
        json={"name": "Other", "phones": [{"number": "+3612345678", "kind": "fax"}]},
        headers=admin,
    )
    assert [d["matched_on"] for d in r.json()["duplicates"]] == [["phone"]]
    c1 = (
        await deals.http.post(
            "/api/v1/contacts", json={"first_name": "Sara", "emails": ["sara@acme.hu"]}, headers=admin
        )
    ).json()
    r = await deals.http.post(
        "/api/v1/contacts", json={"first_name": "S.", "emails": ["SARA@acme.hu"]}, headers=admin
    )
    assert [(d["id"], d["matched_on"]) for d in r.json()["duplicates"]] == [(c1["id"], ["email"])]
    r = await deals.http.patch(
        f"/api/v1/contacts/{c1['id']}",
        json={"phones": [{"number": "+36 30 123 4567", "kind": "mobile"}]},
        headers=admin,
    )
    assert r.status_code == 200
    [row] = await outbox(deals, "crm.deals.contact.updated")
    updated = events_pb2.ContactUpdated.FromString(row.payload)
    assert [p.e164 for p in updated.contact.phones] == ["+36301234567"] and list(updated.changed_fields) == [
        "phones"
    ]
    r = await deals.http.get(f"/api/v1/organizations/{first['id']}/duplicates", headers=admin)
    assert len(r.json()) == 2


async def test_customer_lifecycle_from_paid_invoices(crm, servers):
    deals = await crm.start(definition)
    admin = deals.auth("admin", team="t1")
    contact = (await deals.http.post("/api/v1/contacts", json={"first_name": "Sara"}, headers=admin)).json()
    org = (await deals.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=admin)).json()

    nc = await nats.connect(servers.nats)
    js = nc.jetstream()
    await ensure_stream(js, "billing")

    async def paid(
        invoice: str, customer: str, kind: str = "", days_ago: int = 0, event_id: str | None = None
    ):
        msg = billing_events.InvoicePaid(invoice_id=invoice, customer_id=customer, customer_kind=kind)
        msg.total.amount, msg.total.currency_code = "100.00", "EUR"
        msg.paid_at.FromDatetime(dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago))
        headers = build_headers(
            uuid.UUID(event_id) if event_id else uuid.uuid4(),
            "crm.billing.v1.InvoicePaid",
            dt.datetime.now(dt.UTC),
        )
        await js.publish("crm.billing.invoice.paid", msg.SerializeToString(), headers=headers)

    async def status(path: str) -> tuple[str, int]:
        body = (await deals.http.get(f"{path}/lifecycle", headers=admin)).json()
        return body["buyer_status"], body["paid_invoices"]

    contact_path = f"/api/v1/contacts/{contact['id']}"
    try:
        await paid("inv-1", contact["id"], "contact", days_ago=400)
        await eventually(lambda: _is(status(contact_path), ("one_time", 1)), timeout=10)
        await paid("inv-1", contact["id"], "contact")  # the same invoice re-published: counted once
        await paid("inv-2", contact["id"], days_ago=30)  # kind looked up
        await eventually(lambda: _is(status(contact_path), ("returning", 2)), timeout=10)
        await paid("inv-3", contact["id"], "contact", days_ago=10)
        await eventually(
            lambda: _is(status(contact_path), ("returning", 3)), timeout=10
        )  # only 2 in 365 days
        await paid("inv-4", contact["id"], "contact")
        await eventually(lambda: _is(status(contact_path), ("regular", 4)), timeout=10)
        await paid("inv-9", org["id"], "organization")
        await eventually(
            lambda: _is(status(f"/api/v1/organizations/{org['id']}"), ("one_time", 1)), timeout=10
        )
        await paid("inv-x", str(uuid.uuid4()), "contact")  # unknown customer: dead letter, not a retry loop

        async def dead() -> bool:
            async with deals.runtime.sessions() as s:
                n = await s.scalar(
                    select(tables.dead_letter.c.id)
                    .where(tables.dead_letter.c.consumer == "deals_customer_lifecycle")
                    .limit(1)
                )
            return n is not None

        await eventually(dead, timeout=10)
    finally:
        await nc.close()
    changes = [
        events_pb2.CustomerLifecycleChanged.FromString(r.payload)
        for r in await outbox(deals, "crm.deals.customer.lifecycle_changed")
    ]
    assert [(c.customer_kind, c.old_status, c.new_status) for c in changes] == [
        ("contact", "prospect", "one_time"),
        ("contact", "one_time", "returning"),
        ("contact", "returning", "regular"),
        ("organization", "prospect", "one_time"),
    ]
    body = (await deals.http.get(f"{contact_path}/lifecycle", headers=admin)).json()
    assert [p["invoice_id"] for p in body["payments"]] == ["inv-1", "inv-2", "inv-3", "inv-4"]


async def _is(awaitable, expected) -> bool:
    return await awaitable == expected
