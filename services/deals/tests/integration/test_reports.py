"""Reports on real PostgreSQL: forecast, funnel, win/loss and time in stage checked against figures
computed by hand from the opportunities below; role scoping; the gRPC edge; daily snapshots taken by the
Celery task in a real worker, read back "as of" that day after the pipeline changed."""

from __future__ import annotations

import asyncio
import datetime as dt

from crm.deals.v1 import deals_pb2, deals_pb2_grpc
from crm_deals.app import definition
from crm_deals.reports.tasks import snapshot_forecast
from sqlalchemy import text

# name: (owner, amount, currency, stage, close date, extra)
DEALS = {
    "A": ("rep-1", "10000", "EUR", "Proposal", "2027-04-10", {}),
    "B": ("rep-1", "20000", "EUR", "Negotiation", "2027-04-20", {}),
    "C": ("rep-1", "5000", "EUR", "Qualification", "2027-05-05", {}),
    "D": ("rep-1", "8000", "EUR", "Qualification", "2027-05-15", {"source": "web", "then": "Closed won"}),
    "E": (
        "rep-1",
        "3000",
        "EUR",
        "Qualification",
        "2027-04-25",
        {"source": "fair", "then": "Closed lost", "why": "price"},
    ),
    "F": ("rep-1", "7000", "EUR", "Proposal", "2027-04-28", {"category": "omitted"}),
    "G": ("rep-2", "1000", "USD", "Qualification", "2027-06-01", {}),
    "H": ("rep-2", "4000", "EUR", "Negotiation", "2027-07-02", {}),
    "I": ("rep-2", "6000", "EUR", "Proposal", "2027-04-30", {"probability": 33}),
    "J": (
        "rep-2",
        "2000",
        "EUR",
        "Qualification",
        "2027-06-10",
        {"source": "web", "then": "Closed lost", "why": "no budget"},
    ),
}


async def seed(deals) -> tuple[dict[str, str], dict[str, str]]:
    pipeline = (await deals.http.get("/api/v1/pipelines", headers=deals.auth())).json()[0]
    stages = {s["name"]: s["id"] for s in pipeline["stages"]}
    ids: dict[str, str] = {}
    orgs: dict[str, str] = {}
    for name, (owner, amount, currency, stage, close, extra) in DEALS.items():
        rep = deals.auth("rep", sub=owner, team="t1")
        if owner not in orgs:  # a rep links opportunities to organizations they can see: their own
            r = await deals.http.post("/api/v1/organizations", json={"name": f"Acme {owner}"}, headers=rep)
            orgs[owner] = r.json()["id"]
        body = {
            "name": name,
            "organization_id": orgs[owner],
            "stage_id": stages[stage],
            "amount": amount,
            "currency": currency,
            "expected_close_date": close,
            "source": extra.get("source", ""),
        }
        if "probability" in extra:
            body["probability"] = extra["probability"]
        r = await deals.http.post("/api/v1/opportunities", json=body, headers=rep)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
        if "category" in extra:
            r = await deals.http.patch(
                f"/api/v1/opportunities/{ids[name]}",
                json={"forecast_category": extra["category"]},
                headers=rep,
            )
            assert r.status_code == 200, r.text
        if "then" in extra:
            move = {"stage_id": stages[extra["then"]]}
            if "why" in extra:
                move["lost_reason"] = extra["why"]
            r = await deals.http.post(f"/api/v1/opportunities/{ids[name]}/stage", json=move, headers=rep)
            assert r.status_code == 200, r.text
    return ids, stages


def rows(report: dict) -> dict[tuple[str, str], tuple]:
    return {
        (r["period"], r["currency"]): (
            r["count"],
            r["pipeline"],
            r["weighted"],
            r["commit"],
            r["best_case"],
            r["closed"],
        )
        for r in report["rows"]
    }


async def test_forecast_funnel_win_loss_and_stage_time_match_hand_computed_figures(crm):
    deals = await crm.start(definition, wait_nats=False)
    ids, _ = await seed(deals)
    admin = deals.auth("admin", team="t1")

    # forecast per month: counted = won + open not omitted (E, J lost; F omitted)
    # April EUR: A 10000@50% best_case, B 20000@75% commit, I 6000@33% (override) best_case
    #   pipeline 36000, weighted 5000 + 15000 + 1980 = 21980, commit 20000, best case 36000, closed 0
    # May EUR: C 5000@10%, D won 8000 -> pipeline 5000, weighted 500 + 8000, commit = best = closed = 8000
    # June USD: G 1000@10%; July EUR: H 4000@75% commit
    r = await deals.http.get("/api/v1/reports/forecast", params={"period": "month"}, headers=admin)
    assert r.status_code == 200, r.text
    assert rows(r.json()) == {
        ("2027-04", "EUR"): (3, "36000.00", "21980.00", "20000.00", "36000.00", "0.00"),
        ("2027-05", "EUR"): (2, "5000.00", "8500.00", "8000.00", "8000.00", "8000.00"),
        ("2027-06", "USD"): (1, "1000.00", "100.00", "0.00", "0.00", "0.00"),
        ("2027-07", "EUR"): (1, "4000.00", "3000.00", "4000.00", "4000.00", "0.00"),
    }
    # per quarter, limited to Q2
    params = {"period": "quarter", "period_start": "2027-04-01", "period_end": "2027-06-30"}
    r = await deals.http.get("/api/v1/reports/forecast", params=params, headers=admin)
    assert rows(r.json()) == {
        ("2027-Q2", "EUR"): (5, "41000.00", "30480.00", "28000.00", "44000.00", "8000.00"),
        ("2027-Q2", "USD"): (1, "1000.00", "100.00", "0.00", "0.00", "0.00"),
    }
    # a rep sees only their own; asking for someone else's is refused
    rep1 = deals.auth("rep", sub="rep-1", team="t1")
    r = await deals.http.get("/api/v1/reports/forecast", params={"period": "quarter"}, headers=rep1)
    assert rows(r.json()) == {
        ("2027-Q2", "EUR"): (4, "35000.00", "28500.00", "28000.00", "38000.00", "8000.00"),
    }
    r = await deals.http.get("/api/v1/reports/forecast", params={"owner_id": "rep-2"}, headers=rep1)
    assert r.status_code == 403
    r = await deals.http.get(
        "/api/v1/reports/forecast", params={"owner_id": "rep-2"}, headers=deals.auth("manager", team="t1")
    )
    assert rows(r.json())[("2027-04", "EUR")] == (1, "6000.00", "1980.00", "0.00", "6000.00", "0.00")
    r = await deals.http.get("/api/v1/reports/forecast", headers=deals.auth("manager", team="t2"))
    assert r.json()["rows"] == []

    # funnel: now in stage / reached (furthest stage ever, won counts as past every open stage)
    # furthest: Qualification C G E J, Proposal A F I, Negotiation B H, won D
    r = await deals.http.get("/api/v1/reports/funnel", headers=admin)
    funnel = {s["name"]: s for s in r.json()["stages"]}
    assert {n: (s["count"], s["reached"], s["conversion_rate"]) for n, s in funnel.items()} == {
        "Qualification": (2, 10, None),
        "Needs analysis": (0, 6, "0.6000"),
        "Proposal": (3, 6, "1.0000"),
        "Negotiation": (2, 3, "0.5000"),
        "Closed won": (1, 1, "0.3333"),
        "Closed lost": (2, 2, None),
    }
    assert funnel["Qualification"]["value"] == [
        {"currency": "EUR", "amount": "5000.00"},
        {"currency": "USD", "amount": "1000.00"},
    ]
    assert funnel["Proposal"]["value"] == [{"currency": "EUR", "amount": "23000.00"}]

    # win/loss of deals closed this year: web 1 won (D) 1 lost (J), fair 1 lost (E)
    today = dt.date.today()
    params = {"period_start": f"{today.year}-01-01", "period_end": f"{today.year}-12-31"}
    r = await deals.http.get("/api/v1/reports/win-loss", params=params, headers=admin)
    wl = r.json()
    assert [(x["key"], x["won"], x["lost"], x["win_rate"]) for x in wl["by_source"]] == [
        ("web", 1, 1, "0.5000"),
        ("fair", 0, 1, "0.0000"),
    ]
    assert sorted((x["key"], x["lost"]) for x in wl["by_lost_reason"]) == [("no budget", 1), ("price", 1)]
    r = await deals.http.get(
        "/api/v1/reports/win-loss",
        params={"period_start": "2020-01-01", "period_end": "2020-12-31"},
        headers=admin,
    )
    assert r.json() == {"by_source": [], "by_lost_reason": []}

    # average time in stage: D, E, J left Qualification after 2, 4 and 6 days
    async with deals.runtime.unit_of_work() as s:
        for name, days in (("D", 2), ("E", 4), ("J", 6)):
            await s.execute(
                text(
                    "UPDATE opportunity_stage_history SET seconds_in_from_stage = :sec "
                    "WHERE opportunity_id = :id AND from_stage_id IS NOT NULL"
                ),
                {"sec": days * 86400, "id": ids[name]},
            )
    r = await deals.http.get("/api/v1/reports/stage-durations", headers=admin)
    durations = {s["name"]: (s["samples"], s["average_days"]) for s in r.json()["stages"]}
    assert durations == {
        "Qualification": (3, "4.00"),
        "Needs analysis": (0, None),
        "Proposal": (0, None),
        "Negotiation": (0, None),
    }

    # the same reports over gRPC
    stub = deals_pb2_grpc.DealsServiceStub(deals.grpc_channel)
    md = deals.service_metadata()
    got = await stub.GetForecastReport(
        deals_pb2.GetForecastReportRequest(
            filter=deals_pb2.ReportFilter(period_start="2027-04-01", period_end="2027-06-30"),
            period=deals_pb2.FORECAST_PERIOD_QUARTER,
        ),
        metadata=md,
    )
    assert [(x.period, x.currency_code, x.weighted, x.best_case) for x in got.rows] == [
        ("2027-Q2", "EUR", "30480.00", "44000.00"),
        ("2027-Q2", "USD", "100.00", "0.00"),
    ]
    got_funnel = await stub.GetFunnelReport(deals_pb2.GetFunnelReportRequest(), metadata=md)
    assert [(s.name, s.count, s.reached) for s in got_funnel.stages][:2] == [
        ("Qualification", 2, 10),
        ("Needs analysis", 0, 6),
    ]
    got_wl = await stub.GetWinLossReport(
        deals_pb2.GetWinLossReportRequest(filter=deals_pb2.ReportFilter(owner_id="rep-2")), metadata=md
    )
    assert [(x.key, x.won, x.lost) for x in got_wl.by_source] == [("web", 0, 1)]
    got_sd = await stub.GetStageDurationReport(deals_pb2.GetStageDurationReportRequest(), metadata=md)
    assert (got_sd.stages[0].samples, got_sd.stages[0].average_days) == (3, "4.00")
    # a rep's forwarded JWT keeps the role rules on gRPC too
    mine = await stub.GetForecastReport(
        deals_pb2.GetForecastReportRequest(period=deals_pb2.FORECAST_PERIOD_QUARTER),
        metadata=deals.user_metadata("rep", sub="rep-2"),
    )
    assert {x.period for x in mine.rows} == {"2027-Q2", "2027-Q3"}


async def test_daily_snapshot_keeps_what_the_forecast_said(crm):
    deals = await crm.start(definition, wait_nats=False, celery_worker=True)
    ids, stages = await seed(deals)
    admin = deals.auth("admin", team="t1")
    today = dt.datetime.now(dt.UTC).date().isoformat()
    r = await deals.http.get("/api/v1/reports/forecast", params={"as_of": today}, headers=admin)
    assert r.status_code == 404 and r.json()["type"].endswith("/forecast-snapshot-not-found")

    stored = await asyncio.to_thread(lambda: snapshot_forecast.delay().get(timeout=30))
    assert stored == 5  # (pipeline, owner, team, month, currency) groups: rep-1 Apr/May, rep-2 Apr/Jun/Jul
    assert (
        await asyncio.to_thread(lambda: snapshot_forecast.delay().get(timeout=30)) == 5
    )  # same day: replaced

    # A is won after the snapshot: live April changes, the snapshot does not
    r = await deals.http.post(
        f"/api/v1/opportunities/{ids['A']}/stage",
        json={"stage_id": stages["Closed won"]},
        headers=deals.auth("rep", sub="rep-1", team="t1"),
    )
    assert r.status_code == 200
    live = rows((await deals.http.get("/api/v1/reports/forecast", headers=admin)).json())
    assert live[("2027-04", "EUR")] == (3, "26000.00", "26980.00", "30000.00", "36000.00", "10000.00")
    then = rows(
        (await deals.http.get("/api/v1/reports/forecast", params={"as_of": today}, headers=admin)).json()
    )
    assert then[("2027-04", "EUR")] == (3, "36000.00", "21980.00", "20000.00", "36000.00", "0.00")
    quarter = await deals.http.get(
        "/api/v1/reports/forecast", params={"as_of": today, "period": "quarter", "team": "t1"}, headers=admin
    )
    assert rows(quarter.json())[("2027-Q2", "EUR")] == (
        5,
        "41000.00",
        "30480.00",
        "28000.00",
        "44000.00",
        "8000.00",
    )
