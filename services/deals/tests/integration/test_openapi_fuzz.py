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
import traceback
from typing import Any

import pytest
import schemathesis
from crm_deals.app import definition
from crm_platform.testing.harness import serve_http
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
SKIPPED_PATHS = {"/readyz"}  # 503 by design when a dependency is down


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


def _runner(strategy: Any, base_url: str, headers: dict[str, str] | None, anonymous: bool, path: str) -> Any:
    def run() -> int:
        count = 0

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(drawn=strategy)
        def check(drawn: tuple[GenerationMode, schemathesis.Case]) -> None:
            nonlocal count
            count += 1
            _, case = drawn
            if anonymous and case.headers:
                case.headers.pop("authorization", None)
                case.headers.pop("Authorization", None)
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error])
            if anonymous and response.status_code < 300 and path != "/healthz":
                raise AssertionError(
                    f"{case.method} {case.path} answered {response.status_code} without a token"
                )

        check()
        return count

    return run


def _fuzz(schema: Any, base_url: str, admin: dict[str, str], seeded: dict[str, str]) -> tuple[list[str], int]:
    failures: list[str] = []
    calls = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIPPED_PATHS:
            continue
        names = [p.name for p in operation.path_parameters]
        for pass_name, headers in (("admin", admin), ("seeded", admin), ("anonymous", None)):
            path_parameters = None
            if pass_name == "seeded":
                if not names or any(n not in seeded for n in names):
                    continue
                path_parameters = {n: seeded[n] for n in names}
            strategy = st.one_of(
                *(
                    st.tuples(
                        st.just(mode),
                        operation.as_strategy(generation_mode=mode, path_parameters=path_parameters),
                    )
                    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                )
            )

            run = _runner(strategy, base_url, headers, pass_name == "anonymous", operation.path)
            try:
                calls += run()
            except (Exception, BaseExceptionGroup) as exc:
                text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                failures.append(f"{pass_name}: {operation.label}\n{text[:3000]}")
    return failures, calls


@pytest.mark.timeout(600)
async def test_no_deals_operation_answers_5xx(crm):
    deals = await crm.start(definition)
    seeded = await _seed(deals)
    async with serve_http(deals.app) as base_url:
        schema = schemathesis.openapi.from_dict(deals.app.openapi())
        schema.config.generation.update(allow_x00=True)
        failures, calls = await asyncio.to_thread(_fuzz, schema, base_url, deals.auth("admin"), seeded)
    print(f"\nschemathesis: {calls} calls")
    assert not failures, f"{len(failures)} failing operation(s):\n\n" + "\n\n".join(failures)
    assert calls > 500
