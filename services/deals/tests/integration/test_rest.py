"""The REST edge of deals: organizations and contacts on real PostgreSQL and NATS."""

from __future__ import annotations

import uuid

from crm.common.v1 import contact_point_pb2
from crm.deals.v1 import events_pb2
from crm_deals.app import definition
from crm_deals.db import tables
from crm_platform.testing.harness import eventually
from sqlalchemy import select

PROBLEM = "application/problem+json"
CONTACT_CREATED = "crm.deals.contact.created"


async def _outbox(deals):
    async with deals.runtime.sessions() as s:
        return (await s.execute(select(tables.outbox).order_by(tables.outbox.c.seq))).all()


async def test_organization_is_normalised_and_visible_by_the_role_rules(crm):
    deals = await crm.start(definition)
    body = {
        "name": " Acme Iran ",
        "domain": "https://www.Acme.IR/about",
        "phones": [{"number": "۰۲۱ ۸۸۸۸ ۱۲۳۴"}],
    }
    r = await deals.http.post("/api/v1/organizations", json=body, headers=deals.auth("rep", sub="rep-1"))
    assert r.status_code == 201, r.text
    org = r.json()
    assert (org["name"], org["domain"]) == ("Acme Iran", "acme.ir")
    assert org["phones"] == [{"e164": "+982188881234", "kind": "work"}]
    assert (org["owner_id"], org["team"]) == ("rep-1", "t1")

    path = f"/api/v1/organizations/{org['id']}"
    assert (await deals.http.get(path, headers=deals.auth("rep", sub="rep-1"))).json()["id"] == org["id"]
    assert (await deals.http.get(path, headers=deals.auth("rep", sub="rep-2"))).status_code == 404
    assert (await deals.http.get(path, headers=deals.auth("manager", team="t1"))).status_code == 200
    r = await deals.http.get(path, headers=deals.auth("manager", team="t2"))
    assert r.status_code == 404 and r.json()["type"].endswith("/organization-not-found")
    assert (await deals.http.get(path)).status_code == 401

    r = await deals.http.post(
        "/api/v1/organizations", json={"name": "", "domain": "not a domain"}, headers=deals.auth()
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    r = await deals.http.post(
        "/api/v1/organizations", json={"name": "X", "domain": "no_such..tld"}, headers=deals.auth()
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["domain"]
    # one OrganizationCreated (with its phones, for telephony); the refused ones wrote nothing
    [row] = await _outbox(deals)
    assert row.subject == "crm.deals.organization.created"
    event = events_pb2.OrganizationCreated.FromString(row.payload)
    assert event.organization.id == org["id"] and [p.e164 for p in event.organization.phones] == [
        "+982188881234"
    ]


async def test_creating_a_contact_writes_contact_created_in_the_same_transaction(crm):
    deals = await crm.start(definition)
    r = await deals.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=deals.auth("manager"))
    org_id = r.json()["id"]
    body = {
        "organization_id": org_id,
        "first_name": "Sara",
        "last_name": "Karimi",
        "emails": ["Sara@Acme.com", "sara@acme.com"],
        "phones": [{"number": "0912 345 6789", "kind": "mobile"}],
    }
    r = await deals.http.post("/api/v1/contacts", json=body, headers=deals.auth("manager", sub="m-1"))
    assert r.status_code == 201, r.text
    contact = r.json()
    assert contact["emails"] == ["sara@acme.com"]
    assert contact["phones"] == [{"e164": "+989123456789", "kind": "mobile"}]
    assert contact["organization_id"] == org_id and contact["owner_id"] is None

    _, row = await _outbox(deals)
    assert row.subject == CONTACT_CREATED and row.headers["Crm-Event-Type"] == "crm.deals.v1.ContactCreated"
    event = events_pb2.ContactCreated.FromString(row.payload)
    assert event.contact_id == contact["id"] and event.display_name == "Sara Karimi"
    assert [(p.e164, p.kind) for p in event.phones] == [
        ("+989123456789", contact_point_pb2.PHONE_KIND_MOBILE)
    ]
    assert event.metadata.event_id == str(row.id) == row.headers["Nats-Msg-Id"]

    async def published():
        return all(r.published_at is not None for r in await _outbox(deals))

    await eventually(published, timeout=5)

    r = await deals.http.get(f"/api/v1/contacts/{contact['id']}", headers=deals.auth("manager", team="t1"))
    assert r.status_code == 200 and r.json()["first_name"] == "Sara"
    r = await deals.http.get(f"/api/v1/contacts/{contact['id']}", headers=deals.auth("rep", sub="m-1"))
    assert r.status_code == 404 and r.json()["type"].endswith("/contact-not-found")


async def test_a_refused_contact_writes_nothing(crm):
    deals = await crm.start(definition)
    r = await deals.http.post(
        "/api/v1/contacts",
        json={
            "first_name": "X",
            "emails": ["nope"],
            "phones": [{"number": "12"}],
            "organization_id": str(uuid.uuid4()),
        },
        headers=deals.auth(),
    )
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"emails.0", "phones.0.number", "organization_id"}
    r = await deals.http.post("/api/v1/contacts", json={}, headers=deals.auth())
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["name"]

    # another rep's organization cannot be attached either
    r = await deals.http.post(
        "/api/v1/organizations", json={"name": "Theirs"}, headers=deals.auth("rep", "rep-1")
    )
    r = await deals.http.post(
        "/api/v1/contacts",
        json={"first_name": "Y", "organization_id": r.json()["id"]},
        headers=deals.auth("rep", sub="rep-2"),
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["organization_id"]
    assert [r.subject for r in await _outbox(deals)] == ["crm.deals.organization.created"]


async def test_health_and_readiness(crm):
    deals = await crm.start(definition)
    assert (await deals.http.get("/healthz")).json() == {"status": "ok"}
    r = await deals.http.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {"database": "ok", "schema": "ok", "nats": "ok"}
