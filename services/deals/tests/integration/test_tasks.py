"""Celery on a real Redis broker: contacts are linked to their team's organization by e-mail domain."""

from __future__ import annotations

from crm_deals.app import definition
from crm_deals.organizations.tasks import link_contacts_by_domain


async def test_link_contacts_by_domain_in_a_real_worker(crm):
    deals = await crm.start(definition, wait_nats=False, celery_worker=True)

    async def post(path: str, body: dict, team: str = "t1") -> str:
        r = await deals.http.post(path, json=body, headers=deals.auth("admin", team=team))
        assert r.status_code == 201, r.text
        return r.json()["id"]

    acme = await post("/api/v1/organizations", {"name": "Acme", "domain": "acme.com"})
    await post("/api/v1/organizations", {"name": "Twin A", "domain": "twin.io"})
    await post("/api/v1/organizations", {"name": "Twin B", "domain": "www.twin.io"})
    linked = await post(
        "/api/v1/contacts", {"first_name": "Sara", "emails": ["gmail@x.org", "sara@ACME.com"]}
    )
    other_team = await post(
        "/api/v1/contacts", {"first_name": "Omid", "emails": ["omid@acme.com"]}, team="t2"
    )
    ambiguous = await post("/api/v1/contacts", {"first_name": "Tom", "emails": ["tom@twin.io"]})
    no_match = await post("/api/v1/contacts", {"first_name": "Ana", "emails": ["ana@elsewhere.hu"]})

    assert link_contacts_by_domain.delay().get(timeout=20) == 1
    assert link_contacts_by_domain.delay().get(timeout=20) == 0  # nothing left to do

    async def organization_of(contact_id: str, team: str = "t1") -> str | None:
        r = await deals.http.get(f"/api/v1/contacts/{contact_id}", headers=deals.auth("admin", team=team))
        return r.json()["organization_id"]

    assert await organization_of(linked) == acme
    assert await organization_of(other_team, "t2") is None
    assert await organization_of(ambiguous) is None
    assert await organization_of(no_match) is None
