"""Deals reports benchmark: every report over 1,000,000 opportunities beside a plain count(*).

One run, one PostgreSQL database (created here, migrated with the deals migrations, dropped at the end):

1. load N opportunities (default 1,000,000) in the default pipeline with one INSERT ... SELECT over
   generate_series (stages, owners, teams, currencies, close dates and amounts spread pseudo-randomly),
   and their stage history (one row per stage left on the way to the furthest stage reached, about 2 per
   opportunity), then VACUUM ANALYZE;
2. time, in the same run and the same database, ``--repeat`` rounds (median reported); a round runs every
   case once, in turn, so load from other processes on the machine hits the baseline and the reports alike:
   - baseline: ``SELECT count(*) FROM opportunity``;
   - funnel: ``ReportService.funnel`` (the service code the REST/gRPC edges call);
   - forecast per month and per quarter: ``ReportService.forecast`` (live, no filter: the whole table);
   - win/loss and average time in stage (whole table);
   - the same reports filtered to one team (what a manager asks for), and with a period whose bounds fall
     inside months (the part of the rollups' month grain that needs the raw rows);
3. print each median beside the baseline and the ratio; target: every report <= 5x the count(*);
4. the price of the rollups on writes: single-opportunity transactions as the service issues them (create
   with its first history row, stage move with its history row, reassignment, which also moves the
   opportunity's time-in-stage sums; and a "touch" that changes no reported column), timed with the
   rollup triggers on and off (``ALTER TABLE ... DISABLE TRIGGER USER``) in alternating rounds; DB time
   per transaction.

Figures are ratios, never assertions: see bench/README.md.

    uv run python bench/deals_reports.py [--rows 1000000] [--repeat 7] [--write-rounds 20]

Servers: CRM_POSTGRES_URL (admin libpq URL), else an embedded PostgreSQL (crm_platform.embedded).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
from benchlib import with_database
from crm_deals.reports.schemas import Scope
from crm_deals.reports.service import ReportService
from crm_platform import embedded
from crm_platform.db import create_engine, session_factory
from crm_platform.migrations import upgrade
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
TARGET = 5.0

LOAD = """
INSERT INTO opportunity (
    id, name, pipeline_id, stage_id, amount, currency, probability, forecast_category, status,
    expected_close_date, owner_id, team, source, lost_reason, stage_entered_at, furthest_position,
    closed_at, created_at, updated_at)
SELECT gen_random_uuid(), 'deal ' || g, s.pipeline_id, s.id,
       round((100 + (hashint4(g) & 65535) * 7.5)::numeric, 2),
       (ARRAY['EUR', 'EUR', 'EUR', 'EUR', 'EUR', 'EUR', 'EUR', 'USD', 'USD', 'IRR'])[1 + (g % 10)],
       s.probability, s.forecast_category,
       s.kind,
       DATE '2026-01-01' + ((hashint4(g + 7) & 1023) % 730),
       'rep-' || (g % 50), 'team-' || (g % 5),
       (ARRAY['web', 'fair', 'referral', 'ads', ''])[1 + (g % 5)],
       CASE WHEN s.kind = 'lost' THEN (ARRAY['price', 'timing', 'competitor'])[1 + (g % 3)] ELSE '' END,
       now() - make_interval(days => (g % 90)),
       CASE WHEN s.kind = 'lost' THEN 1 + (g % 4) ELSE greatest(s.position, 1 + (g % s.position)) END,
       CASE WHEN s.kind <> 'open' THEN now() - make_interval(days => (g % 365)) END,
       now() - make_interval(days => (g % 700)), now()
FROM generate_series(1, $1::int) AS g
JOIN stage AS s ON s.pipeline_id = (SELECT id FROM pipeline WHERE is_default)
               AND s.position = 1 + (hashint4(g + 3) & 1023) % 6
"""


HISTORY = """
INSERT INTO opportunity_stage_history (
    id, opportunity_id, from_stage_id, to_stage_id, changed_by, changed_at, seconds_in_from_stage, reason)
SELECT gen_random_uuid(), o.id, f.id, t.id, coalesce(o.owner_id, ''),
       o.created_at + make_interval(days => 3 * k),
       (hashint4(k) & 255) * 3600 + (hashint4(o.furthest_position + k) & 4095) * 60, ''
FROM opportunity AS o
CROSS JOIN LATERAL generate_series(1, least(o.furthest_position, 5) - 1) AS k
JOIN stage AS f ON f.pipeline_id = o.pipeline_id AND f.position = k
JOIN stage AS t ON t.pipeline_id = o.pipeline_id AND t.position = k + 1
"""


CREATE = """
WITH o AS (
    INSERT INTO opportunity (
        id, name, pipeline_id, stage_id, amount, currency, probability, forecast_category, status,
        expected_close_date, owner_id, team, stage_entered_at, furthest_position)
    VALUES (gen_random_uuid(), 'bench', $1, $2, 1234.50, 'EUR', 10, 'pipeline', 'open',
            DATE '2027-03-15', 'rep-7', 'team-2', now(), 1)
    RETURNING id
)
INSERT INTO opportunity_stage_history (
    id, opportunity_id, from_stage_id, to_stage_id, changed_by, changed_at, reason)
SELECT gen_random_uuid(), o.id, NULL, $2, 'rep-7', now(), 'created' FROM o
"""
MOVE = """
UPDATE opportunity SET stage_id = $2, probability = $3, forecast_category = $4, stage_entered_at = now(),
       furthest_position = greatest(furthest_position, $5), updated_at = now()
WHERE id = $1
"""
MOVE_HISTORY = """
INSERT INTO opportunity_stage_history (
    id, opportunity_id, from_stage_id, to_stage_id, changed_by, changed_at, seconds_in_from_stage, reason)
VALUES (gen_random_uuid(), $1, $2, $3, 'rep-7', now(), 86400, '')
"""
REASSIGN = "UPDATE opportunity SET owner_id = $2, team = $3, updated_at = now() WHERE id = $1"
TOUCH = "UPDATE opportunity SET next_step = 'call back', updated_at = now() WHERE id = $1"
TRIGGERS = ("opportunity", "opportunity_stage_history")


async def write_costs(
    conn: asyncpg.Connection, rounds: int, batch: int = 30
) -> dict[str, tuple[float, float]]:
    """Median ms per transaction with the rollup triggers on and off, per kind of write."""
    pipeline = await conn.fetchval("SELECT id FROM pipeline WHERE is_default")
    stages = await conn.fetch(
        "SELECT id, position, probability, forecast_category FROM stage "
        "WHERE pipeline_id = $1 AND kind = 'open' ORDER BY position",
        pipeline,
    )
    first, nxt = stages[0]["id"], {s["position"]: s for s in stages}
    need = rounds * 2 * batch
    movable = await conn.fetch(
        "SELECT o.id, o.stage_id, s.position FROM opportunity o JOIN stage s ON s.id = o.stage_id "
        "WHERE o.status = 'open' AND s.position < $1 LIMIT $2",
        stages[-1]["position"],
        need,
    )
    owners = await conn.fetch(
        "SELECT id, owner_id FROM opportunity WHERE status = 'open' OFFSET $1 LIMIT $2", need, need
    )
    samples: dict[str, dict[bool, list[float]]] = {
        k: {True: [], False: []} for k in ("create", "stage move", "reassign", "touch (next step)")
    }

    async def one_batch(kind: str, rows: list[Any]) -> float:
        start = time.perf_counter()
        for row in rows:
            async with conn.transaction():
                if kind == "create":
                    await conn.execute(CREATE, pipeline, first)
                elif kind == "stage move":
                    to = nxt[row["position"] + 1]
                    await conn.execute(
                        MOVE, row["id"], to["id"], to["probability"], to["forecast_category"], to["position"]
                    )
                    await conn.execute(MOVE_HISTORY, row["id"], row["stage_id"], to["id"])
                elif kind == "reassign":
                    await conn.execute(REASSIGN, row["id"], "rep-moved", "team-9")
                else:
                    await conn.execute(TOUCH, row["id"])
        return (time.perf_counter() - start) * 1000 / len(rows)

    used = 0
    for round_ in range(rounds):
        for on in (True, False) if round_ % 2 == 0 else (False, True):
            for table in TRIGGERS:
                await conn.execute(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER USER")
            chunk = slice(used, used + batch)
            samples["create"][on].append(await one_batch("create", list(range(batch))))
            samples["stage move"][on].append(await one_batch("stage move", movable[chunk]))
            samples["reassign"][on].append(await one_batch("reassign", owners[chunk]))
            samples["touch (next step)"][on].append(await one_batch("touch", owners[chunk]))
            used += batch
    for table in TRIGGERS:
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    return {k: (statistics.median(v[True]), statistics.median(v[False])) for k, v in samples.items()}


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    import os

    url = os.environ.get("CRM_POSTGRES_URL")
    if url:
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="crm-bench-pg-"))
    server = embedded.start_postgres(root / "pg", embedded.free_port())
    try:
        yield server.url
    finally:
        server.stop()


async def timed_rounds(
    cases: list[tuple[str, Callable[[], Awaitable[Any]]]], repeat: int
) -> dict[str, float]:
    """Median seconds per case; each round runs every case once (after one warm-up round)."""
    samples: dict[str, list[float]] = {label: [] for label, _ in cases}
    for round_ in range(repeat + 1):
        for label, fn in cases:
            start = time.perf_counter()
            await fn()
            if round_:  # round 0 warms the cache and the plans
                samples[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in samples.items()}


async def main(rows: int, repeat: int, write_rounds: int) -> int:
    with postgres_server() as admin_url:
        name = f"crm_bench_deals_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(with_database(admin_url, "postgres"))
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            url = with_database(admin_url, name, "asyncpg")
            await asyncio.to_thread(upgrade, ROOT / "services" / "deals", url)
            conn = await asyncpg.connect(with_database(admin_url, name))
            try:
                start = time.perf_counter()
                await conn.execute(LOAD, rows)
                await conn.execute(HISTORY)
                await conn.execute("VACUUM ANALYZE")
                load = time.perf_counter() - start
                count = await conn.fetchval("SELECT count(*) FROM opportunity")
                moves = await conn.fetchval("SELECT count(*) FROM opportunity_stage_history")
                size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('opportunity'))")
                version = await conn.fetchval("SHOW server_version")
                workers = await conn.fetchval("SHOW max_parallel_workers_per_gather")
            finally:
                await conn.close()
            print(f"PostgreSQL {version}, max_parallel_workers_per_gather={workers}")
            print(
                f"loaded {count:,} opportunities and {moves:,} stage moves in {load:.1f} s "
                f"(opportunity table + indexes {size})"
            )

            engine = create_engine(url, pool_size=1)
            sessions = session_factory(engine)
            try:
                async with sessions() as session:
                    reports = ReportService(session)

                    count_all = text("SELECT count(*) FROM opportunity")

                    async def baseline() -> Any:
                        return (await session.execute(count_all)).scalar()

                    team = Scope(team="team-2")
                    # bounds inside months: whole months from the rollups, the two edge months from rows
                    team_days = Scope(team="team-2", start=dt.date(2026, 2, 15), end=dt.date(2026, 11, 20))
                    closed_days = Scope(team="team-2", start=dt.date.today() - dt.timedelta(days=200))
                    cases: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                        ("count(*) baseline", baseline),
                        ("funnel", lambda: reports.funnel(Scope())),
                        ("forecast per month", lambda: reports.forecast(Scope(), "month")),
                        ("forecast per quarter", lambda: reports.forecast(Scope(), "quarter")),
                        ("win/loss", lambda: reports.win_loss(Scope())),
                        ("stage durations", lambda: reports.stage_durations(Scope())),
                        ("funnel, one team", lambda: reports.funnel(team)),
                        ("forecast per quarter, one team", lambda: reports.forecast(team, "quarter")),
                        ("win/loss, one team", lambda: reports.win_loss(team)),
                        ("stage durations, one team", lambda: reports.stage_durations(team)),
                        ("funnel, team, mid-month period", lambda: reports.funnel(team_days)),
                        ("forecast, team, mid-month period", lambda: reports.forecast(team_days, "quarter")),
                        ("win/loss, team, last 200 days", lambda: reports.win_loss(closed_days)),
                        ("durations, team, mid-month period", lambda: reports.stage_durations(team_days)),
                    ]
                    results = await timed_rounds(cases, repeat)
            finally:
                await engine.dispose()
            writes: dict[str, tuple[float, float]] = {}
            if write_rounds:
                conn = await asyncpg.connect(with_database(admin_url, name))
                try:
                    writes = await write_costs(conn, write_rounds)
                finally:
                    await conn.close()
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()

    base = results["count(*) baseline"]
    print(f"\nmedian of {repeat} interleaved rounds, same database, same run")
    print(f"{'query':36} {'median ms':>10} {'x count(*)':>11}  target <= {TARGET:.0f}x")
    worst = 0.0
    for label, seconds in results.items():
        ratio = seconds / base
        if label != "count(*) baseline":
            worst = max(worst, ratio)
        mark = "" if label == "count(*) baseline" else ("ok" if ratio <= TARGET else "OVER")
        print(f"{label:36} {seconds * 1000:10.1f} {ratio:10.2f}x  {mark}")
    print(
        f"\nworst report: {worst:.2f}x the count(*) "
        f"({'within' if worst <= TARGET else 'over'} the {TARGET:.0f}x target)"
    )
    if writes:
        print(
            f"\nwrites: DB time per transaction, median of {write_rounds} rounds, rollup triggers on vs off"
        )
        print(f"{'transaction':36} {'on ms':>10} {'off ms':>10} {'extra ms':>9} {'on/off':>8}")
        for label, (on, off) in writes.items():
            print(f"{label:36} {on:10.2f} {off:10.2f} {on - off:9.2f} {on / off:7.2f}x")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--write-rounds", type=int, default=20, help="rounds of 30 transactions per kind and mode; 0: skip"
    )
    args = parser.parse_args()
    raise SystemExit(asyncio.run(main(args.rows, args.repeat, args.write_rounds)))
