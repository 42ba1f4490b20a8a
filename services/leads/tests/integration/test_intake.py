"""Intake on real PostgreSQL, NATS and Redis: lead sources, the public web-form endpoint (idempotency,
origins, CORS, rate limit, whitelist, isolation) and CSV import as a Celery job."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
import uuid
from unittest.mock import ANY

import pytest
from crm_leads.app import definition
from crm_leads.intake import tasks as intake_tasks
from crm_leads.intake.models import ImportJob, IntakeSubmission, LeadSource
from crm_leads.intake.ratelimit import RateLimiter
from crm_leads.intake.service import ImportService
from crm_leads.leads.models import Lead
from crm_leads.leads.service import LeadService
from crm_platform.db import utcnow
from crm_platform.testing.harness import eventually
from sqlalchemy import func, select, update
from sqlalchemy.exc import DataError

PROBLEM = "application/problem+json"
ORIGIN = "https://shop.example"


async def make_source(leads, **overrides):
    body = {"name": "Website", "allowed_origins": [ORIGIN], "rate_limit_per_minute": 10_000, **overrides}
    r = await leads.http.post("/api/v1/lead-sources", json=body, headers=leads.auth())
    assert r.status_code == 201, r.text
    return r.json(), r.json()["api_key"]


async def count(leads, model, *where):
    async with leads.runtime.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model).where(*where))


def use_worker_db(monkeypatch, leads):
    """Run task code in-process against this test's database (as the harness does for a worker)."""
    import crm_leads.worker as worker

    monkeypatch.setattr(worker.settings, "database_url", leads.database_url)


# --- lead sources --------------------------------------------------------------------------------------
async def test_lead_source_admin_key_shown_once_hashed_and_rotatable(crm):
    leads = await crm.start(definition)
    source, key = await make_source(
        leads,
        name="Spring landing page",
        kind="landing_page",
        allowed_origins=["HTTPS://Shop.Example:443/", "http://localhost:3000"],
        default_region="hu",
        campaign="spring-2027",
    )
    assert key.startswith("lsk_") and len(key) > 40
    assert source["key_prefix"] == key[:12] and source["intake_path"] == f"/api/v1/intake/{key}"
    assert source["allowed_origins"] == ["https://shop.example", "http://localhost:3000"]
    assert source["default_region"] == "HU" and "email" in source["field_whitelist"]
    async with leads.runtime.sessions() as s:
        row = await s.get(LeadSource, uuid.UUID(source["id"]))
        assert row.api_key_hash == hashlib.sha256(key.encode()).hexdigest()
    # Only a hash is stored: the key never comes back.
    r = await leads.http.get(f"/api/v1/lead-sources/{source['id']}", headers=leads.auth("manager"))
    assert r.status_code == 200 and "api_key" not in r.json() and key not in r.text
    r = await leads.http.get("/api/v1/lead-sources", headers=leads.auth())
    assert [s["id"] for s in r.json()["items"]] == [source["id"]] and key not in r.text

    r = await leads.http.patch(
        f"/api/v1/lead-sources/{source['id']}",
        json={"rate_limit_per_minute": 30, "field_whitelist": ["First Name", "E-mail", "custom.*"]},
        headers=leads.auth(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["rate_limit_per_minute"] == 30
    assert r.json()["field_whitelist"] == ["first_name", "email", "custom.*"]

    ok = await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": "Anna", "email": "a@x.hu"})
    assert ok.status_code == 202
    r = await leads.http.post(f"/api/v1/lead-sources/{source['id']}:rotate-key", headers=leads.auth())
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    new_key = r.json()["api_key"]
    assert new_key != key and r.json()["key_prefix"] == new_key[:12]
    old = await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": "Béla"})
    assert old.status_code == 404
    assert (
        await leads.http.post(f"/api/v1/intake/{new_key}", json={"first_name": "Béla"})
    ).status_code == 202


async def test_lead_source_roles_and_validation(crm):
    leads = await crm.start(definition)
    body = {"name": "Form"}
    assert (await leads.http.post("/api/v1/lead-sources", json=body)).status_code == 401
    r = await leads.http.post("/api/v1/lead-sources", json=body, headers=leads.auth("rep"))
    assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
    assert (await leads.http.get("/api/v1/lead-sources", headers=leads.auth("rep"))).status_code == 403

    r = await leads.http.post(
        "/api/v1/lead-sources",
        json={
            "name": "  ",
            "allowed_origins": ["shop.example", "https://ok.example/path"],
            "field_whitelist": ["email", "favourite_colour", "source"],
            "default_region": "XX",
        },
        headers=leads.auth(),
    )
    assert r.status_code == 422, r.text
    assert {e["field"] for e in r.json()["errors"]} == {
        "name",
        "allowed_origins.0",
        "allowed_origins.1",
        "field_whitelist.1",
        "field_whitelist.2",
        "default_region",
    }
    r = await leads.http.post("/api/v1/lead-sources", json={"name": "x", "kind": "fax"}, headers=leads.auth())
    assert r.status_code == 422
    r = await leads.http.post(
        "/api/v1/lead-sources", json={"name": "x", "field_whitelist": []}, headers=leads.auth()
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "field_whitelist"
    missing = uuid.uuid4()
    r = await leads.http.get(f"/api/v1/lead-sources/{missing}", headers=leads.auth())
    assert r.status_code == 404 and r.json()["type"].endswith("/lead-source-not-found")
    r = await leads.http.post(f"/api/v1/lead-sources/{missing}:rotate-key", headers=leads.auth())
    assert r.status_code == 404
    assert await count(leads, LeadSource) == 0


# --- public web-form endpoint -----------------------------------------------------------------------------
async def test_form_post_urlencoded_json_and_multipart_make_normalised_leads(crm):
    leads = await crm.start(definition)
    source, key = await make_source(leads, name="Contact form", campaign="autumn", default_region="IR")
    form = {
        "First Name": "Ali",
        "last_name": "Rezaei",
        "email": " Ali@Example.COM ",
        "mobile": "۰۹۱۲ ۳۴۵ ۶۷۸۹",
        "company": "Acme",
        "message": "Call me after 5",
        "utm_source": "google",
        "submit": "Send",
    }
    r = await leads.http.post(f"/api/v1/intake/{key}", data=form, headers={"origin": ORIGIN})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "accepted" and body["replayed"] is False
    assert (
        body["idempotency_key"].startswith("auto:")
        and r.headers["idempotency-key"] == body["idempotency_key"]
    )
    assert sorted(body["ignored_fields"]) == ["submit", "utm_source"]
    assert r.headers["access-control-allow-origin"] == ORIGIN

    lead = (await leads.http.get(f"/api/v1/leads/{body['lead_id']}", headers=leads.auth())).json()
    assert (lead["first_name"], lead["last_name"], lead["company"]) == ("Ali", "Rezaei", "Acme")
    assert lead["emails"] == ["ali@example.com"]
    assert lead["phones"] == [{"e164": "+989123456789", "kind": "mobile"}]
    assert lead["description"] == "Call me after 5"
    assert (lead["source"], lead["campaign"], lead["intake_channel"]) == (
        "Contact form",
        "autumn",
        "web_form",
    )
    async with leads.runtime.sessions() as s:
        stored = await s.get(Lead, uuid.UUID(body["lead_id"]))
        assert stored.source_id == uuid.UUID(source["id"])

    r = await leads.http.post(
        f"/api/v1/intake/{key}",
        json={
            "name": "Kovács János",
            "emails": ["k@example.hu"],
            "phone": "+36 30 123 4567",
            "campaign": "x",
        },
    )
    assert r.status_code == 202, r.text
    lead = (await leads.http.get(f"/api/v1/leads/{r.json()['lead_id']}", headers=leads.auth())).json()
    assert lead["last_name"] == "Kovács János" and lead["campaign"] == "x"  # the form's campaign wins
    assert lead["phones"] == [{"e164": "+36301234567", "kind": "work"}]

    r = await leads.http.post(
        f"/api/v1/intake/{key}", files={"first_name": (None, "Dana"), "email": (None, "d@x.il")}
    )
    assert r.status_code == 202, r.text
    r = await leads.http.post(
        f"/api/v1/intake/{key}", content=b"first_name=x", headers={"content-type": "text/xml"}
    )
    assert r.status_code == 415 and r.headers["content-type"].startswith(PROBLEM)
    r = await leads.http.post(
        f"/api/v1/intake/{key}", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["type"].endswith("/malformed-body")
    r = await leads.http.post(f"/api/v1/intake/{key}", json=["not", "an", "object"])
    assert r.status_code == 400
    r = await leads.http.post(f"/api/v1/intake/{key}", json={"email": [[["a@x.com"]]]})
    assert r.status_code == 400
    deep = b'{"first_name": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    r = await leads.http.post(
        f"/api/v1/intake/{key}", content=deep, headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = await leads.http.post(f"/api/v1/intake/{key}", json={"description": "x" * 70_000})
    assert r.status_code == 413
    assert await count(leads, Lead) == 3


async def test_whitelist_ignores_other_fields_and_invalid_whitelisted_fields_are_422(crm):
    """Choice: non-whitelisted fields are ignored (listed in ignored_fields), never a reason to lose a
    lead; whitelisted fields with bad values are a 422 with field errors under the form's own names."""
    leads = await crm.start(definition)
    _, key = await make_source(leads, field_whitelist=["first_name", "email", "do_not_email"])
    r = await leads.http.post(
        f"/api/v1/intake/{key}",
        json={
            "first_name": "Ali",
            "email": "ali@x.com",
            "phone": "09123456789",
            "company": "Acme",
            "source": "x",
        },
    )
    assert r.status_code == 202, r.text
    assert sorted(r.json()["ignored_fields"]) == ["company", "phone", "source"]
    lead = (await leads.http.get(f"/api/v1/leads/{r.json()['lead_id']}", headers=leads.auth())).json()
    assert lead["phones"] == [] and lead["company"] == "" and lead["source"] == "Website"

    r = await leads.http.post(f"/api/v1/intake/{key}", data={"first_name": "B", "E-mail": "not-an-email"})
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in r.json()["errors"]] == ["E-mail"]
    r = await leads.http.post(f"/api/v1/intake/{key}", data={"email": "b@x.com", "do_not_email": "maybe"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["do_not_email"]
    r = await leads.http.post(f"/api/v1/intake/{key}", data={"company": "only a company"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["name"]
    r = await leads.http.post(
        f"/api/v1/intake/{key}", json={"first_name": "C"}, headers={"idempotency-key": "x" * 129}
    )
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]
    assert await count(leads, Lead) == 1
    assert await count(leads, IntakeSubmission) == 1  # refused submissions keep no idempotency claim


async def test_resubmitted_form_never_makes_a_second_lead(crm):
    leads = await crm.start(definition)
    _, key = await make_source(leads)
    first = await leads.http.post(f"/api/v1/intake/{key}", data={"first_name": "Ali", "email": "ali@x.com"})
    # The same form again: other case, spacing, a tracking field -> the same derived key, the same lead.
    again = await leads.http.post(
        f"/api/v1/intake/{key}", data={"first_name": " ali ", "email": "ALI@X.COM", "gclid": "abc"}
    )
    assert first.status_code == again.status_code == 202
    assert again.json()["lead_id"] == first.json()["lead_id"] and again.json()["replayed"] is True
    assert again.json()["idempotency_key"] == first.json()["idempotency_key"]
    other = await leads.http.post(f"/api/v1/intake/{key}", data={"first_name": "Ali", "email": "ali@y.com"})
    assert other.json()["lead_id"] != first.json()["lead_id"]
    # Another source with the same content is another submission.
    _, key2 = await make_source(leads, name="Other form")
    elsewhere = await leads.http.post(
        f"/api/v1/intake/{key2}", data={"first_name": "Ali", "email": "ali@x.com"}
    )
    assert elsewhere.json()["lead_id"] != first.json()["lead_id"]
    assert await count(leads, Lead) == 3


async def test_same_idempotency_key_sequentially_and_concurrently_yields_one_lead(crm):
    leads = await crm.start(definition)
    _, key = await make_source(leads)
    headers = {"idempotency-key": "form-7f3a"}
    r1 = await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": "Ali"}, headers=headers)
    r2 = await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": "Ali"}, headers=headers)
    assert r1.status_code == r2.status_code == 202
    assert r1.json()["lead_id"] == r2.json()["lead_id"] and r2.json()["replayed"]
    assert r1.json()["idempotency_key"] == "form-7f3a"

    async def post(i):
        return await leads.http.post(
            f"/api/v1/intake/{key}", json={"first_name": f"Racer {i}"}, headers={"idempotency-key": "race-1"}
        )

    answers = await asyncio.gather(*(post(i) for i in range(25)))
    assert {r.status_code for r in answers} == {202}
    assert len({r.json()["lead_id"] for r in answers}) == 1
    assert sum(not r.json()["replayed"] for r in answers) == 1
    assert await count(leads, Lead) == 2
    assert await count(leads, IntakeSubmission) == 2


async def test_origins_cors_preflight(crm):
    leads = await crm.start(definition)
    _, key = await make_source(leads)
    r = await leads.http.post(
        f"/api/v1/intake/{key}", json={"first_name": "A"}, headers={"origin": "https://evil.example"}
    )
    assert r.status_code == 403 and r.json()["type"].endswith("/intake-origin-forbidden")
    assert "access-control-allow-origin" not in r.headers
    r = await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": "A"}, headers={"origin": "null"})
    assert r.status_code == 403
    assert await count(leads, Lead) == 0

    preflight = {"origin": ORIGIN, "access-control-request-method": "POST"}
    r = await leads.http.options(f"/api/v1/intake/{key}", headers=preflight)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "Idempotency-Key" in r.headers["access-control-allow-headers"]
    r = await leads.http.options(
        f"/api/v1/intake/{key}", headers={**preflight, "origin": "https://evil.example"}
    )
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = await leads.http.options("/api/v1/intake/lsk_unknownkey0000000000", headers=preflight)
    assert r.status_code == 404

    # A validation error from an allowed origin is readable by the page (CORS headers on problems too).
    r = await leads.http.post(f"/api/v1/intake/{key}", json={"email": "bad"}, headers={"origin": ORIGIN})
    assert r.status_code == 422 and r.headers["access-control-allow-origin"] == ORIGIN
    # No Origin header: a server-to-server post (e.g. a form backend) is fine.
    assert (await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": "A"})).status_code == 202

    _, any_key = await make_source(leads, name="Embeddable widget", allowed_origins=["*"])
    r = await leads.http.post(
        f"/api/v1/intake/{any_key}", json={"first_name": "B"}, headers={"origin": "https://a.b"}
    )
    assert r.status_code == 202 and r.headers["access-control-allow-origin"] == "https://a.b"
    _, no_browser_key = await make_source(leads, name="Server only", allowed_origins=[])
    r = await leads.http.post(
        f"/api/v1/intake/{no_browser_key}", json={"first_name": "C"}, headers={"origin": ORIGIN}
    )
    assert r.status_code == 403


async def test_rate_limit_per_source_answers_429_with_retry_after(crm):
    leads = await crm.start(definition)
    _, key = await make_source(leads, rate_limit_per_minute=3)
    _, other_key = await make_source(leads, name="Other", rate_limit_per_minute=3)
    codes = [
        (
            await leads.http.post(
                f"/api/v1/intake/{key}", json={"first_name": f"N{i}"}, headers={"origin": ORIGIN}
            )
        )
        for i in range(5)
    ]
    assert [r.status_code for r in codes] == [202, 202, 202, 429, 429]
    limited = codes[3]
    assert limited.headers["content-type"].startswith(PROBLEM)
    assert limited.json()["type"].endswith("/rate-limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 120
    assert limited.headers["access-control-allow-origin"] == ORIGIN
    # The limit is per source.
    assert (await leads.http.post(f"/api/v1/intake/{other_key}", json={"first_name": "X"})).status_code == 202
    assert await count(leads, Lead) == 4


async def test_sliding_window_counts_the_previous_minute_on_real_redis(servers):
    limiter = RateLimiter(servers.redis)
    bucket = str(uuid.uuid4())
    start = (time.time() // 60 + 1) * 60  # a window boundary; the limiter is given the time
    first = [await limiter.hit(bucket, 10, now=start + 15) for _ in range(11)]
    assert [d.allowed for d in first] == [True] * 10 + [False]
    assert first[-1].retry_after == 51 and not first[-1].degraded
    # Half-way through the next minute the previous minute's 10 still count for 5: five more fit.
    later = [await limiter.hit(bucket, 10, now=start + 90) for _ in range(6)]
    assert [d.allowed for d in later] == [True] * 5 + [False]
    await limiter.close()


async def test_rate_limit_fails_open_when_redis_is_down(crm, caplog):
    leads = await crm.start(definition, redis_url="redis://127.0.0.1:1/0")
    _, key = await make_source(leads, rate_limit_per_minute=1)
    started = time.perf_counter()
    answers = [await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": f"N{i}"}) for i in range(3)]
    assert [r.status_code for r in answers] == [202, 202, 202]
    assert time.perf_counter() - started < 5
    assert any("Redis unavailable" in m for m in caplog.messages)


async def test_public_endpoint_reaches_nothing_else(crm):
    leads = await crm.start(definition)
    source, key = await make_source(leads)
    r = await leads.http.post(f"/api/v1/intake/{key}", json={"first_name": "A", "email": "a@x.com"})
    assert set(r.json()) == {"idempotency_key", "lead_id", "status", "replayed", "ignored_fields"}
    lead_id = r.json()["lead_id"]
    as_bearer = {"authorization": f"Bearer {key}"}
    for method, path in [
        ("GET", f"/api/v1/leads/{lead_id}"),
        ("GET", "/api/v1/leads"),
        ("POST", "/api/v1/leads"),
        ("GET", "/api/v1/lead-sources"),
        ("POST", f"/api/v1/lead-sources/{source['id']}:rotate-key"),
        ("GET", "/api/v1/imports"),
    ]:
        r = await leads.http.request(method, path, headers=as_bearer, json={})
        assert r.status_code == 401, (method, path, r.status_code)
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        r = await leads.http.request(method, f"/api/v1/intake/{key}")
        assert r.status_code == 405, method
    r = await leads.http.get(f"/api/v1/intake/{key}/leads")
    assert r.status_code == 404
    r = await leads.http.post(f"/api/v1/intake/{key}/../../leads", json={"first_name": "A"})
    assert r.status_code == 401  # a traversal lands on a JWT-protected endpoint
    # Unknown, malformed and deactivated keys get the same answer, which does not echo the key.
    await leads.http.patch(
        f"/api/v1/lead-sources/{source['id']}", json={"active": False}, headers=leads.auth()
    )
    for bad in (key, "lsk_" + "A" * 43, "x", "%2e%2e"):
        r = await leads.http.post(f"/api/v1/intake/{bad}", json={"first_name": "A"})
        assert r.status_code == 404 and r.json()["type"].endswith("/intake-endpoint-not-found"), bad
        assert key not in r.text
    assert await count(leads, Lead) == 1


async def test_200_concurrent_web_form_submissions_make_200_leads_round_robin(crm):
    leads = await crm.start(definition, database_pool_size=10)
    reps = [f"rep-{i}" for i in range(5)]
    for rep in reps:
        r = await leads.http.put(f"/api/v1/reps/{rep}", json={"display_name": rep}, headers=leads.auth())
        assert r.status_code == 200, r.text
    rule = {"name": "everyone", "strategy": "round_robin", "rep_ids": reps}
    r = await leads.http.post("/api/v1/assignment-rules", json=rule, headers=leads.auth())
    assert r.status_code == 201, r.text
    source, key = await make_source(leads)

    async def submit(i):
        form = {"first_name": f"Visitor {i}", "email": f"visitor{i}@example.com", "mobile": f"0912{i:07d}"}
        return await leads.http.post(f"/api/v1/intake/{key}", data=form, headers={"origin": ORIGIN})

    started = time.perf_counter()
    answers = await asyncio.gather(*(submit(i) for i in range(200)))
    elapsed = time.perf_counter() - started
    assert [r.status_code for r in answers] == [202] * 200, {r.status_code: r.text for r in answers}
    assert len({r.json()["lead_id"] for r in answers}) == 200
    async with leads.runtime.sessions() as s:
        owners = (
            await s.execute(select(Lead.owner_id).where(Lead.source_id == uuid.UUID(source["id"])))
        ).scalars()
        per_rep = collections.Counter(owners)
    assert per_rep == {rep: 40 for rep in reps}, per_rep
    print(f"200 concurrent submissions in {elapsed:.2f}s")


# --- CSV import -----------------------------------------------------------------------------------------
def build_csv(rows: int, bad_every: int) -> tuple[str, dict[int, str]]:
    """A CSV with header aliases; every ``bad_every``-th row has one defect. Returns text and
    {line number: the column the error must name}."""
    lines = ["First Name,Last Name,E-mail,Mobile,Company,Country,Notes"]
    expected: dict[int, str] = {}
    defects = [
        ("E-mail", lambda i: f"Ali{i},R,not-an-email,0912{i:07d},,IR,"),
        ("Mobile", lambda i: f"Ali{i},R,a{i}@x.com,12,,IR,"),
        ("name", lambda i: ",,,,,IR,only a note"),
        ("Country", lambda i: f"Ali{i},R,a{i}@x.com,,,Iran,"),
    ]
    for i in range(rows):
        line_no = i + 2
        if i % bad_every == bad_every - 1:
            column, make = defects[(i // bad_every) % len(defects)]
            lines.append(make(i))
            expected[line_no] = column
        else:
            lines.append(f'Ali{i},"Rezaei, Jr",ali{i}@example.com,0912{i:07d},Acme {i % 50},IR,')
    return "\n".join(lines) + "\n", expected


@pytest.fixture
async def purged_broker():
    """The worker's queue on Redis, empty before and after: a big import enqueues score tasks, and
    neither this test nor the next should wait behind another test's leftovers."""
    import crm_leads.worker as worker

    def purge() -> None:
        with worker.celery.connection_for_write() as conn:
            conn.default_channel.queue_purge(worker.celery.conf.task_default_queue)

    await asyncio.to_thread(purge)
    yield
    await asyncio.to_thread(purge)


@pytest.mark.timeout(900)  # ~2 min alone on 2 cores; the bound is for a loaded machine
async def test_csv_import_of_10000_rows_with_3_percent_bad_rows(purged_broker, crm):
    leads = await crm.start(definition, celery_worker=True)
    text, expected = build_csv(10_000, bad_every=33)
    bad = len(expected)
    assert 300 <= bad <= 310
    started = time.perf_counter()
    r = await leads.http.post(
        "/api/v1/imports",
        files={"file": ("leads.csv", text.encode(), "text/csv")},
        data={"default_region": "IR", "source": "expo-2026"},
        headers=leads.auth("manager", sub="m1"),
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["status"] == "queued" and job["total"] == 10_000 and job["filename"] == "leads.csv"
    assert job["columns"]["E-mail"] == "email" and job["columns"]["Notes"] == "description"
    assert r.headers["location"] == f"/api/v1/imports/{job['id']}"

    seen: list[tuple[str, int]] = []

    async def finished():
        p = (
            await leads.http.get(f"/api/v1/imports/{job['id']}", headers=leads.auth("manager", sub="m1"))
        ).json()
        seen.append((p["status"], p["processed"]))
        return p if p["status"] in ("completed", "failed") else None

    final = await eventually(finished, timeout=840, interval=0.5)
    elapsed = time.perf_counter() - started
    assert final["status"] == "completed", final
    assert (final["total"], final["processed"]) == (10_000, 10_000)
    assert (final["imported"], final["failed"]) == (10_000 - bad, bad)
    # Progress was visible while it ran, and never went backwards.
    assert any(status == "running" and 0 < n < 10_000 for status, n in seen), seen
    assert [n for _, n in seen] == sorted(n for _, n in seen)

    r = await leads.http.get(
        f"/api/v1/imports/{job['id']}",
        params={"errors_limit": 10_000},
        headers=leads.auth("manager", sub="m1"),
    )
    errors = r.json()["errors"]
    assert r.json()["errors_truncated"] is False
    assert {e["row"]: next(iter(e["errors"])) for e in errors} == expected
    by_row = {e["row"]: e["errors"] for e in errors}
    line = next(n for n, c in expected.items() if c == "Mobile")
    assert "phone" in by_row[line]["Mobile"]
    assert await count(leads, Lead, Lead.intake_channel == "csv") == 10_000 - bad
    async with leads.runtime.sessions() as s:
        sample = await s.scalar(select(Lead).where(Lead.first_name == "Ali0"))
        assert sample.last_name == "Rezaei, Jr" and sample.phones == [
            {"e164": "+989120000000", "kind": "mobile"}
        ]
        assert sample.source == "expo-2026" and sample.team == "t1"

    r = await leads.http.get(f"/api/v1/imports/{job['id']}/errors.csv", headers=leads.auth())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = r.content.decode("utf-8-sig").splitlines()
    assert rows[0] == "First Name,Last Name,E-mail,Mobile,Company,Country,Notes,row,errors"
    assert len(rows) == 1 + bad
    print(f"10,000-row import with {bad} bad rows in {elapsed:.1f}s")


async def test_import_rerun_after_a_crash_and_concurrent_reruns_import_each_row_once(crm, monkeypatch):
    leads = await crm.start(definition)
    use_worker_db(monkeypatch, leads)
    text, expected = build_csv(95, bad_every=10)
    r = await leads.http.post(
        "/api/v1/imports", content=text.encode(), headers={**leads.auth(), "content-type": "text/csv"}
    )
    job_id = uuid.UUID(r.json()["id"])

    real_chunk = ImportService.import_chunk
    calls = 0

    async def crash_on_third_chunk(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionResetError("worker lost its database mid-chunk")
        return await real_chunk(self, *args, **kwargs)

    monkeypatch.setattr(ImportService, "import_chunk", crash_on_third_chunk)
    with pytest.raises(ConnectionResetError):
        await intake_tasks._run_import(job_id, chunk_rows=20)
    async with leads.runtime.sessions() as s:
        job = await s.get(ImportJob, job_id)
        assert (job.status, job.processed) == ("running", 40)
    monkeypatch.setattr(ImportService, "import_chunk", real_chunk)

    # Re-delivery: two copies of the task start at once; one runs, the other finds the job taken.
    results = await asyncio.gather(
        intake_tasks._run_import(job_id, chunk_rows=20), intake_tasks._run_import(job_id, chunk_rows=20)
    )
    assert sorted(r["status"] for r in results) == ["busy", "completed"]
    assert await intake_tasks._run_import(job_id) == {"job": str(job_id), "status": "completed"}
    async with leads.runtime.sessions() as s:
        job = await s.get(ImportJob, job_id)
        assert (job.processed, job.imported, job.failed) == (95, 95 - len(expected), len(expected))
        assert sorted(e["row"] for e in job.errors) == sorted(expected)
    assert await count(leads, Lead) == 95 - len(expected)


async def test_a_row_that_breaks_the_store_is_isolated_and_reported_and_the_rest_imported(crm, monkeypatch):
    leads = await crm.start(definition)
    use_worker_db(monkeypatch, leads)
    rows = [f"Lead{i},l{i}@x.com" for i in range(40)]
    rows[17] = "Poison,p@x.com"
    text = "first_name,email\n" + "\n".join(rows) + "\n"
    r = await leads.http.post(
        "/api/v1/imports", content=text.encode(), headers={**leads.auth(), "content-type": "text/csv"}
    )
    real = LeadService.create_many

    async def breaks_on_poison(self, items, *args, **kwargs):
        if any(i.first_name == "Poison" for i in items):
            raise DataError("INSERT ...", {}, Exception("value out of range"))
        return await real(self, items, *args, **kwargs)

    monkeypatch.setattr(LeadService, "create_many", breaks_on_poison)
    result = await intake_tasks._run_import(uuid.UUID(r.json()["id"]))
    assert (result["status"], result["imported"], result["failed"]) == ("completed", 39, 1)
    job = (await leads.http.get(f"/api/v1/imports/{r.json()['id']}", headers=leads.auth())).json()
    assert job["errors"] == [{"row": 19, "errors": {"row": ANY}}]
    assert "DataError" in job["errors"][0]["errors"]["row"]
    assert await count(leads, Lead) == 39


async def test_import_upload_rules_encodings_and_persian_headers(crm, monkeypatch):
    leads = await crm.start(definition)
    use_worker_db(monkeypatch, leads)
    csv_type = {"content-type": "text/csv"}
    r = await leads.http.post(
        "/api/v1/imports", content=b"a,b\n1,2\n", headers={**leads.auth("rep"), **csv_type}
    )
    assert r.status_code == 403
    assert (await leads.http.post("/api/v1/imports", content=b"x", headers=csv_type)).status_code == 401
    r = await leads.http.post(
        "/api/v1/imports", content=b"colour,size\nred,L\n", headers={**leads.auth(), **csv_type}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
    r = await leads.http.post("/api/v1/imports", content=b"email\n", headers={**leads.auth(), **csv_type})
    assert r.status_code == 422
    r = await leads.http.post(
        "/api/v1/imports", content="email\nä@x.com\n".encode("latin-1"), headers={**leads.auth(), **csv_type}
    )
    assert r.status_code == 422 and "UTF-8" in r.json()["errors"][0]["message"]
    r = await leads.http.post(
        "/api/v1/imports", content=b"email\n", headers={**leads.auth(), "content-type": "image/png"}
    )
    assert r.status_code == 415
    r = await leads.http.post(
        "/api/v1/imports?default_region=ZZ", content=b"email\na@x.com\n", headers={**leads.auth(), **csv_type}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "default_region"

    # Excel in a comma-decimal locale: ';' separated, UTF-8 with BOM, Persian headers and digits.
    persian = (
        "\ufeffنام;نام خانوادگی;تلفن همراه;ایمیل;شرکت;توضیحات\n"  # noqa: RUF001
        "علی;رضایی;۰۹۱۲۳۴۵۶۷۸۹;ALI@EXAMPLE.IR;آکمه;تماس عصر\n"
    )
    r = await leads.http.post(
        "/api/v1/imports?source=nama", content=persian.encode("utf-8"), headers={**leads.auth(), **csv_type}
    )
    assert r.status_code == 202, r.text
    assert r.json()["columns"] == {
        "نام": "first_name",
        "نام خانوادگی": "last_name",
        "تلفن همراه": "mobile",
        "ایمیل": "email",
        "شرکت": "company",
        "توضیحات": "description",
    }
    await intake_tasks._run_import(uuid.UUID(r.json()["id"]))
    async with leads.runtime.sessions() as s:
        lead = await s.scalar(select(Lead).where(Lead.intake_channel == "csv"))
    assert (lead.first_name, lead.last_name, lead.company) == ("علی", "رضایی", "آکمه")
    assert lead.phones == [{"e164": "+989123456789", "kind": "mobile"}] and lead.emails == ["ali@example.ir"]
    assert lead.source == "nama"

    # UTF-16 (Excel "Unicode text") with a Hungarian header and a national-format phone for HU.
    hungarian = "Vezetéknév\tKeresztnév\tTelefon\tOrszág\nKovács\tJános\t06 30 123 4567\tHU\n"
    r = await leads.http.post(
        "/api/v1/imports", content=hungarian.encode("utf-16"), headers={**leads.auth(), **csv_type}
    )
    assert r.status_code == 202, r.text
    await intake_tasks._run_import(uuid.UUID(r.json()["id"]))
    async with leads.runtime.sessions() as s:
        lead = await s.scalar(select(Lead).where(Lead.last_name == "Kovács"))
    assert lead.phones == [{"e164": "+36301234567", "kind": "work"}] and lead.country == "HU"


async def test_import_visibility_listing_and_stuck_job_sweep(crm, monkeypatch):
    leads = await crm.start(definition)
    use_worker_db(monkeypatch, leads)
    csv_type = {"content-type": "text/csv"}
    mine = await leads.http.post(
        "/api/v1/imports",
        content=b"email\na@x.com\n",
        headers={**leads.auth("manager", sub="m1"), **csv_type},
    )
    theirs = await leads.http.post(
        "/api/v1/imports",
        content=b"email\nb@x.com\n",
        headers={**leads.auth("manager", sub="m2", team="t2"), **csv_type},
    )
    assert mine.status_code == theirs.status_code == 202
    t2 = leads.auth("manager", sub="m2", team="t2")
    assert (await leads.http.get(f"/api/v1/imports/{mine.json()['id']}", headers=t2)).status_code == 404
    listed = (await leads.http.get("/api/v1/imports", headers=t2)).json()["items"]
    assert [j["id"] for j in listed] == [theirs.json()["id"]]
    everything = (await leads.http.get("/api/v1/imports", headers=leads.auth())).json()["items"]
    assert {j["id"] for j in everything} == {mine.json()["id"], theirs.json()["id"]}
    assert (await leads.http.get(f"/api/v1/imports/{uuid.uuid4()}", headers=leads.auth())).status_code == 404

    # Jobs whose task never reached the broker stay queued; the sweep finds the old ones only.
    old = uuid.UUID(mine.json()["id"])
    async with leads.runtime.sessions() as s, s.begin():
        await s.execute(
            update(ImportJob)
            .where(ImportJob.id == old)
            .values(created_at=utcnow() - intake_tasks.STUCK_AFTER * 2)
        )
    assert await intake_tasks._stuck(utcnow() - intake_tasks.STUCK_AFTER) == [old]
    await intake_tasks._run_import(old)
    assert await intake_tasks._stuck(utcnow() - intake_tasks.STUCK_AFTER) == []
