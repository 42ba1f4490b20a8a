"""Lead completeness score: computed with every write of the lead's fields; the Celery sweep on a real
Redis broker and worker scores rows that were stored without one (e.g. bulk SQL, older releases)."""

from __future__ import annotations

import asyncio
import uuid

from crm_leads.app import definition
from crm_leads.leads.repository import LeadRepository
from crm_leads.leads.tasks import score_pending_leads
from sqlalchemy import text


async def test_score_is_current_in_every_answer(crm):
    leads = await crm.start(definition)
    body = {"first_name": "Ali", "last_name": "R", "company": "Acme", "emails": ["a@acme.io"]}
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth())
    assert r.status_code == 201, r.text
    assert r.json()["score"] == 50  # 4 of the 8 scored fields are filled in
    lead_id = r.json()["id"]
    patched = {"title": "CTO", "phones": [{"number": "09121234567", "kind": "mobile"}]}
    r = await leads.http.patch(f"/api/v1/leads/{lead_id}", json=patched, headers=leads.auth())
    assert r.status_code == 200, r.text
    assert r.json()["score"] == 75
    r = await leads.http.patch(f"/api/v1/leads/{lead_id}", json={"company": ""}, headers=leads.auth())
    assert r.json()["score"] == 62


async def test_sweep_scores_unscored_leads_in_a_real_worker(crm):
    leads = await crm.start(definition, celery_worker=True)
    body = {"first_name": "Ali", "company": "Acme"}
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth())
    lead_id = uuid.UUID(r.json()["id"])
    async with leads.runtime.sessions() as s:  # as a row written by bulk SQL would be
        await s.execute(text("UPDATE lead SET score = NULL WHERE id = :id"), {"id": lead_id})
        await s.commit()

    assert await asyncio.to_thread(lambda: score_pending_leads.delay().get(timeout=30)) == 1
    async with leads.runtime.sessions() as s:
        lead = await LeadRepository(s).get(lead_id)
        assert lead is not None and lead.score == 25
    assert await asyncio.to_thread(lambda: score_pending_leads.delay().get(timeout=30)) == 0
