"""Schemathesis over the leads OpenAPI: no operation answers 5xx, whatever it is sent.

The service runs in-process (``crm`` fixture; deals too, for lead conversion) behind a real uvicorn server
on loopback; Schemathesis generates requests for every operation in ``/openapi.json`` and sends them over
HTTP from a worker thread (Hypothesis is synchronous), while the event loop serves them. Three passes per
operation:

- admin token, generated path parameters (mostly "not found" for ids), valid and invalid data;
- admin token, path parameters pointing at seeded records (a lead, a rep, a rule, an activity, a custom
  field, a lead source), so the handlers run deep with fuzzed bodies and queries;
- no token at all: never 5xx, and never 2xx outside the public endpoints.

Valid (positive) requests must also conform to the schema: status code documented, content type and
response body as declared; errors are problem+json. Failures are collected for every operation and
reported together, each with a curl command that reproduces it (crm_platform.testing.fuzz).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx
import pytest
import schemathesis
from crm_deals.app import definition as deals_definition
from crm_leads.app import definition
from crm_platform.testing.fuzz import Pass, fuzz_operations
from crm_platform.testing.harness import serve_http

# Examples per operation and pass; FUZZ_EXAMPLES=200 for a deeper run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
# NUL (U+0000) in text is generated too: the platform answers the database's refusal with a 422.
ALLOW_X00 = os.environ.get("FUZZ_ALLOW_X00", "1") == "1"
# Public by design: reachable without a token.
PUBLIC_PREFIXES = ("/healthz", "/api/v1/intake/")


async def _seed(leads: Any) -> dict[str, str]:
    """Records the seeded pass aims its path parameters at."""
    admin = leads.auth("admin")
    ids: dict[str, str] = {}
    r = await leads.http.put(
        "/api/v1/reps/fuzz-rep", json={"display_name": "Fuzz Rep", "team": "t1"}, headers=admin
    )
    assert r.status_code == 200, r.text
    ids["rep_id"] = "fuzz-rep"
    r = await leads.http.post(
        "/api/v1/assignment-rules", json={"name": "fuzz", "rep_ids": ["fuzz-rep"]}, headers=admin
    )
    assert r.status_code == 201, r.text
    ids["rule_id"] = r.json()["id"]
    r = await leads.http.put(
        "/api/v1/custom-fields/fuzz_field",
        json={"key": "fuzz_field", "label": "Fuzz", "type": "text"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    ids["key"] = "fuzz_field"
    r = await leads.http.post(
        "/api/v1/leads",
        json={"first_name": "Fuzz", "company": "Fuzz Co", "emails": ["fuzz@example.com"]},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    ids["lead_id"] = r.json()["id"]
    r = await leads.http.get(f"/api/v1/leads/{ids['lead_id']}/activities", headers=admin)
    if r.status_code == 200 and r.json()["items"]:
        ids["activity_id"] = r.json()["items"][0]["id"]
    # intake is optional here: its routes may not be mounted in every build of the service
    r = await leads.http.post("/api/v1/lead-sources", json={"name": "Fuzz form"}, headers=admin)
    if r.status_code == 201:
        ids["source_id"] = r.json()["id"]
        ids["api_key"] = r.json().get("api_key", "")
    return ids


@pytest.mark.timeout(600)
async def test_no_operation_answers_5xx(crm):
    # deals runs too: lead conversion calls it over gRPC (without it, conversion answers 503 by design)
    deals = await crm.start(deals_definition)
    leads = await crm.start(definition, deals_grpc_target=f"127.0.0.1:{deals.runtime.grpc_port}")
    seeded = await _seed(leads)
    async with serve_http(leads.app) as base_url:
        schema = schemathesis.openapi.from_dict(leads.app.openapi())
        schema.config.generation.update(allow_x00=ALLOW_X00)
        admin = leads.auth("admin")
        passes: list[Pass] = [("admin", admin, None), ("seeded", admin, seeded), ("anonymous", None, None)]
        started = time.monotonic()
        failures, calls = await asyncio.to_thread(
            fuzz_operations,
            schema,
            base_url,
            passes,
            examples=EXAMPLES,
            public_prefixes=PUBLIC_PREFIXES,
            conformance=True,
        )
        elapsed = time.monotonic() - started
    operations = {label.split(": ", 1)[1] for label in calls}
    print(f"\nschemathesis: {sum(calls.values())} calls, {len(operations)} operations, {elapsed:.0f}s")
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
    assert len(operations) >= 20, sorted(operations)  # the schema really was walked


# Found by the fuzzing above: PostgreSQL cannot store U+0000 in text (SQLSTATE 22021) or jsonb (22P05).
# crm_platform maps those database refusals to a 422 problem on every edge; these requests pin that down.
NUL_REQUESTS = [
    ("PUT", "/api/v1/reps/nul-rep", {"display_name": "a\u0000b"}),
    ("POST", "/api/v1/assignment-rules", {"name": "a\u0000b", "rep_ids": ["nul-rep"]}),
    ("POST", "/api/v1/leads", {"first_name": "a\u0000b"}),
    ("POST", "/api/v1/leads", {"first_name": "a", "description": "\u0000"}),
    ("POST", "/api/v1/leads", {"first_name": "a", "custom_fields": {"nul_field": "v\u0000"}}),
    ("GET", "/api/v1/leads?q=a%00", None),
]


@pytest.mark.parametrize(
    ("method", "url", "body"), NUL_REQUESTS, ids=lambda v: v if isinstance(v, str) else ""
)
async def test_nul_characters_are_a_client_error(crm, method, url, body):
    leads = await crm.start(definition)
    admin = leads.auth("admin")
    await leads.http.put("/api/v1/reps/nul-rep", json={"display_name": "Nul Rep"}, headers=admin)
    await leads.http.put(
        "/api/v1/custom-fields/nul_field",
        json={"key": "nul_field", "label": "Nul", "type": "text"},
        headers=admin,
    )
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=leads.app, raise_app_exceptions=False), base_url="http://testserver"
    )
    async with client:
        r = await client.request(method, url, json=body, headers=admin)
    assert r.status_code == 422, r.text


async def test_rep_cap_beyond_the_column_is_a_client_error(crm):
    """Found by the fuzzing (FUZZ_EXAMPLES=120): max_open_leads 2500170330812 passed validation, then
    asyncpg refused it for the int4 column on the client side (no SQLSTATE) and the answer was 500."""
    leads = await crm.start(definition)
    admin = leads.auth("admin")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=leads.app, raise_app_exceptions=False), base_url="http://testserver"
    )
    async with client:
        for _ in range(2):  # create, then update the existing rep
            r = await client.put(
                "/api/v1/reps/cap-rep",
                json={"active": False, "max_open_leads": 2500170330812.0},
                headers=admin,
            )
            assert r.status_code == 422, r.text
            assert [e["field"] for e in r.json()["errors"]] == ["max_open_leads"]
            r = await client.put("/api/v1/reps/cap-rep", json={"max_open_leads": 1_000_000}, headers=admin)
            assert r.status_code == 200, r.text
