"""Schemathesis over the deals OpenAPI: no operation answers 5xx, whatever it is sent.

The service runs in-process (``crm`` fixture) behind a real uvicorn server on loopback; Schemathesis
generates valid and invalid requests for every operation of ``/openapi.json`` and sends them over HTTP
from a worker thread while the event loop serves them. Passes: admin token with generated path
parameters; admin token with path parameters aimed at seeded records (organization, contact, opportunity,
pipeline, stage, activity) so handlers run deep; no token (never 5xx, never 2xx). NUL characters stay in
the generated strings: deals refuses them as 422. FUZZ_EXAMPLES=200 for a deeper run.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import schemathesis
from crm_deals.app import definition
from crm_platform.testing.fuzz import Pass, fuzz_operations
from crm_platform.testing.harness import serve_http

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))


async def _seed(deals: Any) -> dict[str, str]:
    admin = deals.auth("admin")
    ids: dict[str, str] = {}
    org = (await deals.http.post("/api/v1/organizations", json={"name": "Fuzz Co"}, headers=admin)).json()
    ids["organization_id"] = org["id"]
    contact = await deals.http.post(
        "/api/v1/contacts", json={"first_name": "Fuzz", "organization_id": org["id"]}, headers=admin
    )
    ids["contact_id"] = contact.json()["id"]
    [pipeline] = (await deals.http.get("/api/v1/pipelines", headers=admin)).json()
    ids["pipeline_id"] = pipeline["id"]
    ids["stage_id"] = pipeline["stages"][1]["id"]
    opp = await deals.http.post(
        "/api/v1/opportunities", json={"name": "Fuzz deal", "organization_id": org["id"]}, headers=admin
    )
    ids["opportunity_id"] = opp.json()["id"]
    task = await deals.http.post(
        f"/api/v1/opportunities/{ids['opportunity_id']}/activities",
        json={"kind": "task", "subject": "x", "due_at": "2030-01-01T00:00:00Z"},
        headers=admin,
    )
    ids["activity_id"] = task.json()["id"]
    return ids


@pytest.mark.timeout(600)
async def test_no_deals_operation_answers_5xx(crm):
    deals = await crm.start(definition)
    seeded = await _seed(deals)
    async with serve_http(deals.app) as base_url:
        schema = schemathesis.openapi.from_dict(deals.app.openapi())
        schema.config.generation.update(allow_x00=True)
        admin = deals.auth("admin")
        passes: list[Pass] = [("admin", admin, None), ("seeded", admin, seeded), ("anonymous", None, None)]
        failures, calls = await asyncio.to_thread(
            fuzz_operations, schema, base_url, passes, examples=EXAMPLES
        )
    print(f"\nschemathesis: {sum(calls.values())} calls")
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
    assert sum(calls.values()) > 500
