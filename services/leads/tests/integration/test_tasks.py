"""Celery on a real Redis broker: the score task runs after the lead's transaction commits."""

from __future__ import annotations

import uuid

from crm_leads.app import definition
from crm_leads.leads.repository import LeadRepository
from crm_platform.testing.harness import eventually


async def test_score_task_runs_in_a_real_worker(crm):
    leads = await crm.start(definition, celery_worker=True)
    body = {"first_name": "Ali", "last_name": "R", "company": "Acme", "emails": ["a@acme.io"]}
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth())
    lead_id = uuid.UUID(r.json()["id"])

    async def scored():
        async with leads.runtime.sessions() as s:
            lead = await LeadRepository(s).get(lead_id)
            return lead.score if lead and lead.score is not None else None

    # 4 of the 8 scored fields are filled in
    assert await eventually(scored, timeout=20) == 50
