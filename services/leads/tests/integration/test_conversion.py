"""Lead conversion across two real services: leads and deals in-process, each on its own PostgreSQL
database, talking gRPC over loopback, publishing to a real NATS.

Shown here: preview then conversion reusing an organization matched by e-mail domain (activities moved,
lead kept as converted and out of the work list, crm.leads.lead.converted emitted, second conversion
refused); a deals failure midway (a trigger fails the opportunity INSERT after organization and contact
were written) leaves nothing in deals and the lead unconverted with the reason, and the retry under the
same conversion id completes once; a definitive refusal; deals unreachable, then resumed by the Celery
sweep; two concurrent conversions of one lead produce one opportunity; B2C; the gRPC edge."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import grpc
import pytest
from crm.deals.v1 import deals_pb2, deals_pb2_grpc
from crm.leads.v1 import events_pb2, leads_pb2, leads_pb2_grpc
from crm_deals.app import definition as deals_definition
from crm_leads.app import definition as leads_definition
from crm_leads.db import tables as leads_tables
from crm_leads.leads.models import Lead
from crm_platform.embedded import free_port
from sqlalchemy import select, text, update

LEAD_CONVERTED = "crm.leads.lead.converted"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def start_both(crm, **leads_overrides):
    deals = await crm.start(deals_definition)
    target = leads_overrides.pop("deals_grpc_target", f"127.0.0.1:{deals.runtime.grpc_port}")
    leads = await crm.start(
        leads_definition, deals_grpc_target=target, deals_grpc_timeout=5.0, **leads_overrides
    )
    return leads, deals


async def new_lead(leads, owner: str = "rep-1", team: str = "t1", **fields) -> str:
    """A lead owned by ``owner`` (created by an admin, then given its owner directly, as in the activity
    tests: no assignment rule, no automatic follow-up)."""
    body = {"first_name": "Sara", "last_name": "Karimi", **fields}
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth("admin", sub="admin", team=team))
    assert r.status_code == 201, r.text
    lead_id = r.json()["id"]
    async with leads.runtime.unit_of_work() as s:
        await s.execute(
            update(Lead)
            .where(Lead.id == uuid.UUID(lead_id))
            .values(owner_id=owner, team=team, assigned_at=utcnow())
        )
    return lead_id


async def add_activity(leads, lead_id: str, body: dict, sub: str = "rep-1") -> str:
    r = await leads.http.post(
        f"/api/v1/leads/{lead_id}/activities", json=body, headers=leads.auth("rep", sub=sub, team="t1")
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def leads_outbox(leads, subject: str) -> list:
    async with leads.runtime.sessions() as s:
        rows = (
            await s.execute(
                select(leads_tables.outbox)
                .where(leads_tables.outbox.c.subject == subject)
                .order_by(leads_tables.outbox.c.seq)
            )
        ).all()
    return rows


async def deals_count(deals, table: str) -> int:
    async with deals.runtime.sessions() as s:
        return int(await s.scalar(text(f"SELECT count(*) FROM {table}")))


async def test_conversion_reuses_the_organization_matched_by_email_domain(crm):
    leads, deals = await start_both(crm)
    acme = await deals.http.post(
        "/api/v1/organizations",
        json={"name": "Acme Trading GmbH", "domain": "https://www.acme.com"},
        headers=deals.auth("manager", sub="m-1", team="t1"),
    )
    assert acme.status_code == 201, acme.text
    acme_id = acme.json()["id"]
    lead_id = await new_lead(
        leads,
        company="ACME Iran",  # another name: only the e-mail domain matches
        emails=["Sara@Acme.com"],
        phones=[{"number": "0912 345 6789", "kind": "mobile"}],
        source="web",
        campaign="spring",
        city="Tehran",
        description="Wants 20 licences",
    )
    note = await add_activity(leads, lead_id, {"kind": "note", "body": "Called, interested"})
    task = await add_activity(
        leads,
        lead_id,
        {"kind": "task", "subject": "Send offer", "due_at": (utcnow() + dt.timedelta(days=2)).isoformat()},
    )
    rep = leads.auth("rep", sub="rep-1", team="t1")

    r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion:preview", json={}, headers=rep)
    assert r.status_code == 200, r.text
    preview = r.json()
    assert preview["organization"]["action"] == "reuse"
    assert (preview["organization"]["id"], preview["organization"]["matched_on"]) == (acme_id, ["domain"])
    assert preview["organization"]["filled_fields"] == ["city"]  # empty there; the name stays Acme Trading
    assert preview["contact"]["action"] == "create"
    opp = preview["opportunity"]
    assert (opp["stage_name"], opp["probability"], opp["owner_id"]) == ("Qualification", 10, "rep-1")
    assert preview["activities_to_move"] == 2
    assert await deals_count(deals, "contact") == 0  # the preview wrote nothing

    r = await leads.http.post(
        f"/api/v1/leads/{lead_id}/conversion",
        json={"amount": "12500.00", "currency": "eur", "expected_close_date": "2027-03-15"},
        headers=rep,
    )
    assert r.status_code == 201, r.text
    conversion = r.json()
    assert conversion["state"] == "completed" and conversion["attempts"] == 1
    assert conversion["organization_id"] == acme_id and not conversion["organization_created"]
    assert conversion["contact_created"] and conversion["opportunity_id"]
    assert sorted(conversion["moved_activity_ids"]) == sorted([note, task])

    # deals: the contact belongs to Acme, the opportunity holds the lead's data and activities
    admin = deals.auth("admin")
    contact = (await deals.http.get(f"/api/v1/contacts/{conversion['contact_id']}", headers=admin)).json()
    assert contact["organization_id"] == acme_id and contact["emails"] == ["sara@acme.com"]
    assert (
        contact["phones"] == [{"e164": "+989123456789", "kind": "mobile"}] and contact["owner_id"] == "rep-1"
    )
    org = (await deals.http.get(f"/api/v1/organizations/{acme_id}", headers=admin)).json()
    assert (org["name"], org["city"]) == ("Acme Trading GmbH", "Tehran")
    r = await deals.http.get(f"/api/v1/opportunities/{conversion['opportunity_id']}", headers=admin)
    o = r.json()
    assert (o["lead_id"], o["amount"], o["currency"], o["expected_close_date"]) == (
        lead_id,
        "12500.00",
        "EUR",
        "2027-03-15",
    )
    assert (o["source"], o["campaign"], o["owner_id"], o["team"], o["probability"]) == (
        "web",
        "spring",
        "rep-1",
        "t1",
        10,
    )
    r = await deals.http.get(f"/api/v1/opportunities/{o['id']}/activities", headers=admin)
    moved = {a["source_ref"]: a for a in r.json()}
    assert set(moved) == {
        f"leads.activity:{note}",
        f"leads.activity:{task}",
        f"leads.lead:{lead_id}:description",
    }
    assert moved[f"leads.activity:{task}"]["subject"] == "Send offer"

    # leads: converted, kept for reporting, out of the work list, no further activity, event emitted
    lead = (await leads.http.get(f"/api/v1/leads/{lead_id}", headers=rep)).json()
    assert lead["status"] == "converted"
    work_list = (await leads.http.get("/api/v1/leads", headers=rep)).json()["items"]
    assert lead_id not in [x["id"] for x in work_list]
    r = await leads.http.post(
        f"/api/v1/leads/{lead_id}/activities", json={"kind": "note", "body": "x"}, headers=rep
    )
    assert r.status_code == 409
    [row] = await leads_outbox(leads, LEAD_CONVERTED)
    event = events_pb2.LeadConverted.FromString(row.payload)
    assert (event.lead_id, event.conversion_id, event.opportunity_id, event.organization_id) == (
        lead_id,
        conversion["id"],
        o["id"],
        acme_id,
    )
    assert sorted(event.moved_activity_ids) == sorted([note, task]) and event.converted_by == "rep-1"
    audit = [
        a["action"] for a in (await leads.http.get(f"/api/v1/leads/{lead_id}/audit", headers=rep)).json()
    ]
    assert audit[-3:] == ["conversion_requested", "status_changed", "converted"]

    # converting twice is refused, the preview too; the stored conversion can be read
    r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion", json={}, headers=rep)
    assert r.status_code == 409 and r.json()["type"].endswith("/lead-already-converted")
    r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion:preview", json={}, headers=rep)
    assert r.status_code == 409
    assert (await leads.http.get(f"/api/v1/leads/{lead_id}/conversion", headers=rep)).json()[
        "id"
    ] == conversion["id"]
    assert await deals_count(deals, "opportunity") == 1 and await deals_count(deals, "organization") == 1

    # another rep sees neither the lead nor its conversion
    other = leads.auth("rep", sub="rep-2", team="t1")
    assert (
        await leads.http.post(f"/api/v1/leads/{lead_id}/conversion", json={}, headers=other)
    ).status_code == 404


async def test_a_private_person_becomes_a_contact_without_organization(crm):
    leads, deals = await start_both(crm)
    lead_id = await new_lead(leads, emails=["sara.k@gmail.com"])  # free-mail: says nothing about a company
    await deals.http.post(
        "/api/v1/organizations", json={"name": "Gmail fans", "domain": "gmail.com"}, headers=deals.auth()
    )
    rep = leads.auth("rep", sub="rep-1", team="t1")
    preview = (await leads.http.post(f"/api/v1/leads/{lead_id}/conversion:preview", headers=rep)).json()
    assert preview["organization"]["action"] == "skip" and preview["contact"]["action"] == "create"
    r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion", headers=rep)
    assert r.status_code == 201, r.text
    c = r.json()
    assert c["organization_id"] is None and c["contact_id"] and c["opportunity_id"]
    o = (await deals.http.get(f"/api/v1/opportunities/{c['opportunity_id']}", headers=deals.auth())).json()
    assert (o["name"], o["contact_id"], o["organization_id"]) == ("Sara Karimi", c["contact_id"], None)


async def test_deals_failing_midway_leaves_nothing_half_created(crm):
    leads, deals = await start_both(crm)
    lead_id = await new_lead(leads, company="Globex", emails=["hank@globex.io"], website="globex.io")
    note = await add_activity(leads, lead_id, {"kind": "note", "body": "first call"})
    rep = leads.auth("rep", sub="rep-1", team="t1")

    # a real failure inside the deals transaction, after organization and contact were inserted
    dsn = deals.database_url.replace("postgresql+asyncpg", "postgresql")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            CREATE FUNCTION fail_opportunity() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$;
            CREATE TRIGGER fail_opportunity BEFORE INSERT ON opportunity
            FOR EACH ROW EXECUTE FUNCTION fail_opportunity();
            """
        )
        r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion", json={}, headers=rep)
        assert r.status_code == 503, r.text
        assert r.json()["type"].endswith("/upstream-unavailable")

        # deals: nothing at all (organization and contact were rolled back with the opportunity)
        for table in (
            "organization",
            "contact",
            "opportunity",
            "lead_conversion",
            "deal_activity",
            "outbox_event",
        ):
            assert await deals_count(deals, table) == 0, table
        # leads: the lead is untouched, the reason is recorded, nothing was emitted or marked moved
        lead = (await leads.http.get(f"/api/v1/leads/{lead_id}", headers=rep)).json()
        assert lead["status"] != "converted"
        c = (await leads.http.get(f"/api/v1/leads/{lead_id}/conversion", headers=rep)).json()
        assert (
            c["state"] == "pending" and "unavailable" in c["failure_reason"] and c["moved_activity_ids"] == []
        )
        assert await leads_outbox(leads, LEAD_CONVERTED) == []
        async with leads.runtime.sessions() as s:
            assert (await s.get(Lead, uuid.UUID(lead_id))).converted_at is None

        await conn.execute("DROP TRIGGER fail_opportunity ON opportunity")
    finally:
        await conn.close()

    # the retry uses the same conversion id and completes once
    r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion", json={}, headers=rep)
    assert r.status_code == 201, r.text
    done = r.json()
    assert (done["id"], done["state"], done["attempts"], done["failure_reason"]) == (
        c["id"],
        "completed",
        2,
        "",
    )
    assert done["moved_activity_ids"] == [note]
    assert [await deals_count(deals, t) for t in ("organization", "contact", "opportunity")] == [1, 1, 1]
    assert len(await leads_outbox(leads, LEAD_CONVERTED)) == 1


async def test_a_refusal_by_deals_marks_the_conversion_failed_and_leaves_the_lead(crm):
    leads, deals = await start_both(crm)
    lead_id = await new_lead(leads, company="Initech")
    rep = leads.auth("rep", sub="rep-1", team="t1")
    r = await leads.http.post(
        f"/api/v1/leads/{lead_id}/conversion", json={"pipeline_id": str(uuid.uuid4())}, headers=rep
    )
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["options.pipeline_id"]
    c = (await leads.http.get(f"/api/v1/leads/{lead_id}/conversion", headers=rep)).json()
    assert c["state"] == "failed" and "refused" in c["failure_reason"]
    assert (await leads.http.get(f"/api/v1/leads/{lead_id}", headers=rep)).json()["status"] != "converted"
    assert await deals_count(deals, "organization") == 0
    # fixed options: the same conversion id goes through
    r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion", json={}, headers=rep)
    assert r.status_code == 201 and r.json()["id"] == c["id"] and r.json()["organization_created"]


async def test_deals_unreachable_then_the_sweep_completes_the_conversion(crm):
    import crm_leads.worker as leads_worker
    from crm_leads.conversion.tasks import resume_conversions

    deals = await crm.start(deals_definition)
    closed = f"127.0.0.1:{free_port()}"  # nothing listens there
    leads = await crm.start(
        leads_definition, deals_grpc_target=closed, deals_grpc_timeout=2.0, celery_worker=True
    )
    lead_id = await new_lead(leads, company="Umbrella", emails=["alice@umbrella.example"])
    rep = leads.auth("rep", sub="rep-1", team="t1")
    r = await leads.http.post(f"/api/v1/leads/{lead_id}/conversion", json={}, headers=rep)
    assert r.status_code == 503, r.text
    c = (await leads.http.get(f"/api/v1/leads/{lead_id}/conversion", headers=rep)).json()
    assert c["state"] == "pending" and "will retry" in c["failure_reason"]

    # deals is reachable again for the worker: the beat sweep resumes the same conversion
    previous = leads_worker.settings.deals_grpc_target
    leads_worker.settings.deals_grpc_target = f"127.0.0.1:{deals.runtime.grpc_port}"
    try:
        assert await asyncio.to_thread(lambda: resume_conversions.delay().get(timeout=30)) == 1
        assert await asyncio.to_thread(lambda: resume_conversions.delay().get(timeout=30)) == 0
    finally:
        leads_worker.settings.deals_grpc_target = previous
    done = (await leads.http.get(f"/api/v1/leads/{lead_id}/conversion", headers=rep)).json()
    assert (done["id"], done["state"]) == (c["id"], "completed")
    assert (await leads.http.get(f"/api/v1/leads/{lead_id}", headers=rep)).json()["status"] == "converted"
    assert await deals_count(deals, "opportunity") == 1


async def test_concurrent_double_conversion_produces_one_opportunity(crm):
    leads, deals = await start_both(crm)
    lead_id = await new_lead(leads, company="Stark", emails=["tony@stark.example"])
    await add_activity(leads, lead_id, {"kind": "note", "body": "met at the fair"})
    rep = leads.auth("rep", sub="rep-1", team="t1")
    manager = leads.auth("manager", sub="m-1", team="t1")

    answers = await asyncio.gather(
        *(
            leads.http.post(f"/api/v1/leads/{lead_id}/conversion", json={}, headers=who)
            for who in (rep, manager, rep, manager)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["type"].rsplit("/", 1)[-1] for a in answers if a.status_code == 409} <= {
        "conversion-in-progress",
        "lead-already-converted",
    }
    assert await deals_count(deals, "opportunity") == 1
    assert await deals_count(deals, "deal_activity") == 1
    assert len(await leads_outbox(leads, LEAD_CONVERTED)) == 1

    # deals on its own: the same conversion id sent twice at once answers the same records
    stub = deals_pb2_grpc.DealsServiceStub(deals.grpc_channel)
    request = deals_pb2.ConvertLeadRequest(
        conversion_id=str(uuid.uuid4()),
        lead=deals_pb2.LeadSnapshot(lead_id=str(uuid.uuid4()), company="Wayne", team="t1", owner_id="rep-9"),
        actor_id="rep-9",
    )
    first, second = await asyncio.gather(
        *(stub.ConvertLead(request, metadata=deals.service_metadata()) for _ in range(2))
    )
    assert first.result == second.result and sorted([first.replayed, second.replayed]) == [False, True]
    assert await deals_count(deals, "opportunity") == 2
    # ...and another conversion id for the same lead is refused
    other = deals_pb2.ConvertLeadRequest()
    other.CopyFrom(request)
    other.conversion_id = str(uuid.uuid4())
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ConvertLead(other, metadata=deals.service_metadata())
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_conversion_over_grpc(crm):
    leads, deals = await start_both(crm)
    lead_id = await new_lead(leads, company="Hooli", emails=["gavin@hooli.example"])
    stub = leads_pb2_grpc.LeadConversionServiceStub(leads.grpc_channel)
    md = leads.user_metadata("rep", sub="rep-1", team="t1")
    preview = await stub.PreviewLeadConversion(
        leads_pb2.PreviewLeadConversionRequest(id=lead_id), metadata=md
    )
    assert preview.organization.action == deals_pb2.CONVERSION_ACTION_CREATE
    assert preview.opportunity.name == "Hooli"
    options = deals_pb2.ConversionOptions(opportunity_name="Hooli XL")
    options.amount.amount, options.amount.currency_code = "900.50", "HUF"
    done = await stub.ConvertLead(leads_pb2.ConvertLeadRequest(id=lead_id, options=options), metadata=md)
    assert done.conversion.state == "completed" and done.conversion.organization_created
    got = await stub.GetLeadConversion(leads_pb2.GetLeadConversionRequest(id=lead_id), metadata=md)
    assert got.conversion.opportunity_id == done.conversion.opportunity_id
    opp = await deals_pb2_grpc.DealsServiceStub(deals.grpc_channel).GetOpportunity(
        deals_pb2.GetOpportunityRequest(id=done.conversion.opportunity_id), metadata=deals.service_metadata()
    )
    assert (opp.opportunity.name, opp.opportunity.amount.amount, opp.opportunity.amount.currency_code) == (
        "Hooli XL",
        "900.50",
        "HUF",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ConvertLead(leads_pb2.ConvertLeadRequest(id=lead_id), metadata=md)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ConvertLead(
            leads_pb2.ConvertLeadRequest(id=lead_id), metadata=leads.user_metadata("rep", sub="rep-2")
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
