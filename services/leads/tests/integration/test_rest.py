"""The REST edge of leads on real PostgreSQL and NATS."""

from __future__ import annotations

import asyncio
import uuid

from crm.leads.v1 import events_pb2
from crm_leads.app import definition
from crm_leads.db import tables
from crm_leads.leads.models import Lead
from crm_platform.auth import issue_token
from sqlalchemy import func, select

PROBLEM = "application/problem+json"


async def test_create_lead_normalises_and_writes_the_event_in_the_same_transaction(crm):
    leads = await crm.start(definition)
    body = {
        "first_name": "Ali",
        "last_name": "Rezaei",
        "emails": ["Ali@Example.COM"],
        "phones": [{"number": "۰۹۱۲ ۳۴۵ ۶۷۸۹", "kind": "mobile"}],
        "source": "web",
    }
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth("rep", sub="rep-1"))
    assert r.status_code == 201, r.text
    lead = r.json()
    assert lead["emails"] == ["ali@example.com"]
    assert lead["phones"] == [{"e164": "+989123456789", "kind": "mobile"}]
    assert lead["owner_id"] == "rep-1" and lead["status"] == "waiting_for_contact"

    async with leads.runtime.sessions() as s:
        rows = (
            await s.execute(select(tables.outbox).where(tables.outbox.c.subject == "crm.leads.lead.created"))
        ).all()
    assert len(rows) == 1
    event = events_pb2.LeadCreated.FromString(rows[0].payload)
    assert event.lead.id == lead["id"]
    assert event.metadata.event_id == str(rows[0].id) == rows[0].headers["Nats-Msg-Id"]
    assert rows[0].headers["Crm-Event-Type"] == "crm.leads.v1.LeadCreated"

    r = await leads.http.get(f"/api/v1/leads/{lead['id']}", headers=leads.auth("rep", sub="rep-1"))
    assert r.status_code == 200 and r.json()["id"] == lead["id"]


async def test_bad_input_is_a_422_problem_and_writes_nothing(crm):
    leads = await crm.start(definition)
    r = await leads.http.post(
        "/api/v1/leads",
        json={"first_name": "X", "emails": ["nope"], "phones": [{"number": "12"}]},
        headers=leads.auth(),
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    problem = r.json()
    assert problem["type"].endswith("/validation-error")
    assert {e["field"] for e in problem["errors"]} == {"emails.0", "phones.0.number"}

    r = await leads.http.post("/api/v1/leads", json={"first_name": 5, "bogus": 1}, headers=leads.auth())
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert {e["field"] for e in r.json()["errors"]} == {"first_name", "bogus"}

    r = await leads.http.post(
        "/api/v1/leads", content=b"{not json", headers={**leads.auth(), "content-type": "application/json"}
    )
    assert r.status_code == 422

    async with leads.runtime.sessions() as s:
        assert (await s.execute(select(tables.outbox))).first() is None


async def test_batch_is_all_or_nothing(crm):
    leads = await crm.start(definition)
    good = {"first_name": "A", "phones": [{"number": "+36 30 123 4567"}]}
    bad = {"first_name": "B", "emails": ["broken"]}
    r = await leads.http.post("/api/v1/leads:batch", json={"leads": [good, bad]}, headers=leads.auth())
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["leads.1.emails.0"]
    r = await leads.http.post("/api/v1/leads:batch", json={"leads": [good, good]}, headers=leads.auth())
    assert r.status_code == 201 and len(r.json()["leads"]) == 2
    async with leads.runtime.sessions() as s:
        assert len((await s.execute(select(tables.outbox))).all()) == 2


async def test_unknown_id_is_404_and_reps_see_only_their_own(crm):
    leads = await crm.start(definition)
    r = await leads.http.get(f"/api/v1/leads/{uuid.uuid4()}", headers=leads.auth())
    assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM)
    r = await leads.http.get("/api/v1/leads/not-a-uuid", headers=leads.auth())
    assert r.status_code == 422

    r = await leads.http.post(
        "/api/v1/leads", json={"company": "Acme"}, headers=leads.auth("rep", sub="rep-1")
    )
    lead_id = r.json()["id"]
    assert (
        await leads.http.get(f"/api/v1/leads/{lead_id}", headers=leads.auth("rep", sub="rep-2"))
    ).status_code == 404
    same_team = leads.auth("manager", sub="m1", team="t1")
    other_team = leads.auth("manager", sub="m2", team="t2")
    assert (await leads.http.get(f"/api/v1/leads/{lead_id}", headers=same_team)).status_code == 200
    assert (await leads.http.get(f"/api/v1/leads/{lead_id}", headers=other_team)).status_code == 404


async def test_missing_or_invalid_token_is_401_and_a_token_without_role_is_403(crm):
    leads = await crm.start(definition)
    path = f"/api/v1/leads/{uuid.uuid4()}"
    r = await leads.http.get(path)
    assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)
    assert r.headers["www-authenticate"] == "Bearer"
    r = await leads.http.get(path, headers={"authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401
    forged = issue_token("some-other-secret-0123456789abcdef", "x", ("admin",))
    assert (await leads.http.get(path, headers={"authorization": f"Bearer {forged}"})).status_code == 401
    no_role = issue_token(leads.settings.jwt_secret, "x", ("guest",))
    r = await leads.http.get(path, headers={"authorization": f"Bearer {no_role}"})
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")


async def test_health_readiness_and_metrics(crm):
    leads = await crm.start(definition)
    assert (await leads.http.get("/healthz")).json() == {"status": "ok"}
    r = await leads.http.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"database": "ok", "schema": "ok", "nats": "ok"}
    await leads.http.post("/api/v1/leads", json={"company": "Acme"}, headers=leads.auth())
    metrics = (await leads.http.get("/metrics")).text
    assert (
        'crm_http_requests_total{method="POST",route="/api/v1/leads",service="leads",status="201"}' in metrics
    )


async def test_concurrent_single_creates_share_transactions_and_a_bad_one_fails_alone(crm):
    """Group commit: 40 creates in flight at once are stored in fewer transactions than requests, each
    caller gets its own lead (or its own 422 with unprefixed field names), and round-robin stays exact."""
    leads = await crm.start(definition)
    admin = leads.auth("admin", sub="boss")
    reps = ["gc-1", "gc-2", "gc-3", "gc-4"]
    for rep in reps:
        r = await leads.http.put(f"/api/v1/reps/{rep}", json={"display_name": rep}, headers=admin)
        assert r.status_code in (200, 201), r.text
    r = await leads.http.post(
        "/api/v1/assignment-rules",
        json={"name": "rr", "position": 1, "strategy": "round_robin", "rep_ids": reps},
        headers=admin,
    )
    assert r.status_code == 201, r.text

    def body(i: int) -> dict[str, object]:
        if i == 17:
            return {"first_name": "Bad", "emails": ["not-an-email"]}
        return {"first_name": f"G{i}", "emails": [f"g{i}@example.com"], "source": "web"}

    answers = await asyncio.gather(
        *(leads.http.post("/api/v1/leads", json=body(i), headers=admin) for i in range(40))
    )
    assert [a.status_code for a in answers].count(201) == 39
    bad = answers[17]
    assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == ["emails.0"]
    created = [a.json() for a in answers if a.status_code == 201]
    assert sorted(x["first_name"] for x in created) == sorted(f"G{i}" for i in range(40) if i != 17)
    assert len({x["id"] for x in created}) == 39
    committer = leads.runtime.group_commits["create-lead"]
    assert committer.items == 40 and committer.batches < 40

    async with leads.runtime.sessions() as s:
        owners = dict((await s.execute(select(Lead.owner_id, func.count()).group_by(Lead.owner_id))).all())
        created_events = (
            await s.execute(
                select(func.count())
                .select_from(tables.outbox)
                .where(tables.outbox.c.subject == "crm.leads.lead.created")
            )
        ).scalar_one()
    assert sorted(owners.values()) == [9, 10, 10, 10] and set(owners) == set(reps)
    assert created_events == 39
