"""Report rollups on real PostgreSQL: after every kind of write (bulk SQL, REST, history edits, owner and
pipeline moves, deletes, TRUNCATE) each rollup table equals the same sums recomputed from the rows;
concurrent writers (interleaved at the lock points, and in bursts on the same keys) keep them exact; and
every report, for any period (month-aligned or not) and filter, equals a full scan of the rows."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import uuid
from decimal import Decimal
from typing import Any

import asyncpg
from crm_deals.app import definition
from crm_deals.reports.repository import ReportRepository
from crm_deals.reports.schemas import Scope

MONTH = "date_trunc('month', {} AT TIME ZONE 'UTC')::date"

# rollup table -> (the sums recomputed from the rows, the rollup's rows that are not all zero)
ORACLE = {
    "opportunity_forecast_rollup": (
        """SELECT pipeline_id, owner_id, team, close_month, currency, forecast_code,
                  count(*), sum(amount_cents), sum(weighted_e4)
           FROM opportunity WHERE forecast_code > 0 AND close_month IS NOT NULL
           GROUP BY 1, 2, 3, 4, 5, 6""",
        """SELECT pipeline_id, owner_id, team, close_month, currency, forecast_code,
                  count, amount_cents, weighted_e4
           FROM opportunity_forecast_rollup
           WHERE count <> 0 OR amount_cents <> 0 OR weighted_e4 <> 0""",
    ),
    "opportunity_funnel_rollup": (
        f"""SELECT pipeline_id, stage_id, owner_id, team, {MONTH.format("created_at")}, currency,
                   furthest_position, count(*), sum(amount_cents)
            FROM opportunity GROUP BY 1, 2, 3, 4, 5, 6, 7""",
        """SELECT pipeline_id, stage_id, owner_id, team, created_month, currency, furthest_position,
                  count, amount_cents
           FROM opportunity_funnel_rollup WHERE count <> 0 OR amount_cents <> 0""",
    ),
    "opportunity_win_loss_rollup": (
        f"""SELECT pipeline_id, owner_id, team, {MONTH.format("closed_at")}, status, source, lost_reason,
                   count(*)
            FROM opportunity WHERE status IN ('won', 'lost') GROUP BY 1, 2, 3, 4, 5, 6, 7""",
        """SELECT pipeline_id, owner_id, team, closed_month, status, source, lost_reason, count
           FROM opportunity_win_loss_rollup WHERE count <> 0""",
    ),
    "opportunity_stage_duration_rollup": (
        f"""SELECT o.pipeline_id, o.owner_id, o.team, h.from_stage_id, {MONTH.format("h.changed_at")},
                   count(*), count(h.seconds_in_from_stage), coalesce(sum(h.seconds_in_from_stage), 0)
            FROM opportunity_stage_history AS h JOIN opportunity AS o ON o.id = h.opportunity_id
            WHERE h.from_stage_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5""",
        """SELECT pipeline_id, owner_id, team, from_stage_id, changed_month, samples, timed, seconds
           FROM opportunity_stage_duration_rollup WHERE samples <> 0 OR timed <> 0 OR seconds <> 0""",
    ),
    "opportunity_stage_duration_daily": (
        """SELECT o.pipeline_id, o.owner_id, o.team, h.from_stage_id, (h.changed_at AT TIME ZONE 'UTC')::date,
                  count(*), count(h.seconds_in_from_stage), coalesce(sum(h.seconds_in_from_stage), 0)
           FROM opportunity_stage_history AS h JOIN opportunity AS o ON o.id = h.opportunity_id
           WHERE h.from_stage_id IS NOT NULL GROUP BY 1, 2, 3, 4, 5""",
        """SELECT pipeline_id, owner_id, team, from_stage_id, changed_day, samples, timed, seconds
           FROM opportunity_stage_duration_daily WHERE samples <> 0 OR timed <> 0 OR seconds <> 0""",
    ),
}

SEED = """
INSERT INTO opportunity (
    id, name, pipeline_id, stage_id, amount, currency, probability, forecast_category, status,
    expected_close_date, owner_id, team, source, lost_reason, stage_entered_at, furthest_position,
    closed_at, created_at, updated_at)
SELECT gen_random_uuid(), 'deal ' || g, s.pipeline_id, s.id,
       round(((hashint4(g) & 65535) * 0.37)::numeric, 2),
       (ARRAY['EUR', 'USD', 'IRR'])[1 + g % 3], s.probability, s.forecast_category, s.kind,
       CASE WHEN g % 11 = 0 THEN NULL ELSE DATE '2027-01-01' + (hashint4(g + 7) & 1023) % 180 END,
       CASE WHEN g % 13 = 0 THEN NULL ELSE 'rep-' || (g % 4) END, 't' || (g % 2),
       (ARRAY['web', 'fair', ''])[1 + g % 3],
       CASE WHEN s.kind = 'lost' THEN (ARRAY['price', 'timing'])[1 + g % 2] ELSE '' END,
       now(), CASE WHEN s.kind = 'lost' THEN 1 + g % 3 ELSE s.position END,
       CASE WHEN s.kind <> 'open' AND g % 7 <> 0
            THEN TIMESTAMPTZ '2027-01-01 00:00Z' + make_interval(hours => hashint4(g + 5) & 4095) END,
       TIMESTAMPTZ '2026-10-01 00:00Z' + make_interval(hours => hashint4(g + 9) & 4095), now()
FROM generate_series($1::int, $2::int) AS g
JOIN stage AS s ON s.pipeline_id = $3
               AND s.position = 1 + (hashint4(g + 3) & 1023)
                                    % (SELECT count(*) FROM stage WHERE pipeline_id = $3)
"""
# moves to the furthest stage, every third without a recorded time, plus the "created" rows (no from)
HISTORY = """
INSERT INTO opportunity_stage_history (
    id, opportunity_id, from_stage_id, to_stage_id, changed_by, changed_at, seconds_in_from_stage, reason)
SELECT gen_random_uuid(), o.id, f.id, t.id, 'x', o.created_at + make_interval(hours => 37 * k),
       CASE WHEN k % 3 = 0 THEN NULL ELSE k * 3600 + (hashint4(k + length(o.name)) & 4095) END, ''
FROM opportunity AS o
CROSS JOIN LATERAL generate_series(1, o.furthest_position - 1) AS k
JOIN stage AS f ON f.pipeline_id = o.pipeline_id AND f.position = k
JOIN stage AS t ON t.pipeline_id = o.pipeline_id AND t.position = k + 1
WHERE o.name LIKE $1
UNION ALL
SELECT gen_random_uuid(), o.id, NULL, o.stage_id, 'x', o.created_at, NULL, 'created'
FROM opportunity AS o WHERE o.name LIKE $1
"""
MOVE = """
INSERT INTO opportunity_stage_history
    (id, opportunity_id, from_stage_id, to_stage_id, changed_by, changed_at, seconds_in_from_stage)
VALUES (gen_random_uuid(), $1, $2, $3, 'x', now(), 3600)
"""
BURST_CREATE = """
INSERT INTO opportunity (
    id, name, pipeline_id, stage_id, amount, currency, probability, forecast_category, status,
    expected_close_date, owner_id, team, stage_entered_at, furthest_position)
VALUES (gen_random_uuid(), 'burst', $1, $2, 100.5, 'EUR', 10, 'pipeline', 'open',
        DATE '2027-02-14', 'rep-1', 't1', now(), 1)
RETURNING id
"""


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, Decimal) and value == value.to_integral_value() else value


async def assert_exact(conn: asyncpg.Connection) -> None:
    for table, (expected_sql, actual_sql) in ORACLE.items():
        expected = sorted((tuple(_plain(v) for v in r) for r in await conn.fetch(expected_sql)), key=repr)
        actual = sorted((tuple(_plain(v) for v in r) for r in await conn.fetch(actual_sql)), key=repr)
        assert actual == expected, table


def plain_url(deals) -> str:
    return deals.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def two_pipelines(deals) -> tuple[uuid.UUID, uuid.UUID]:
    body = {
        "name": "Renewals",
        "stages": [{"name": "Talk", "probability": 30}, {"name": "Offer", "probability": 60}],
    }
    r = await deals.http.post("/api/v1/pipelines", json=body, headers=deals.auth())
    assert r.status_code == 201, r.text
    [default] = [
        p for p in (await deals.http.get("/api/v1/pipelines", headers=deals.auth())).json() if p["is_default"]
    ]
    return uuid.UUID(default["id"]), uuid.UUID(r.json()["id"])


async def seed(conn: asyncpg.Connection, default: uuid.UUID, other: uuid.UUID) -> None:
    await conn.execute(SEED, 1, 300, default)
    await conn.execute(SEED, 301, 400, other)
    await conn.execute(HISTORY, "deal %")


async def test_rollups_follow_every_kind_of_write(crm):
    deals = await crm.start(definition, wait_nats=False)
    default, other = await two_pipelines(deals)
    conn = await asyncpg.connect(plain_url(deals))
    try:
        await assert_exact(conn)  # empty
        await seed(conn, default, other)
        assert await conn.fetchval("SELECT count(*) FROM opportunity_forecast_rollup") > 0
        await assert_exact(conn)

        won = await conn.fetchval("SELECT id FROM stage WHERE pipeline_id = $1 AND kind = 'won'", default)
        edits = [
            # owner and team move: the forecast, funnel, win/loss keys and the history's keys move too
            "UPDATE opportunity SET owner_id = 'rep-9', team = 't9' WHERE hashint4(length(name) * 7) % 5 = 0",
            "UPDATE opportunity SET owner_id = NULL WHERE name LIKE 'deal 1%'",
            "UPDATE opportunity SET amount = amount * 3 + 1.01, currency = 'GBP' WHERE name LIKE '%7'",
            f"""UPDATE opportunity SET stage_id = '{won}', status = 'won', probability = 100,
                       forecast_category = 'closed', closed_at = TIMESTAMPTZ '2027-02-28 23:59:59Z'
                WHERE name LIKE '%3' AND pipeline_id = '{default}'""",
            "UPDATE opportunity SET expected_close_date = NULL WHERE name LIKE '%4'",
            "UPDATE opportunity SET expected_close_date = DATE '2027-03-31' WHERE name LIKE 'deal 2%'",
            "UPDATE opportunity SET forecast_category = 'omitted' WHERE name LIKE '%5' AND status = 'open'",
            f"UPDATE opportunity SET pipeline_id = '{other}' WHERE name LIKE 'deal 5%'",
            "UPDATE opportunity SET created_at = created_at + interval '20 days' WHERE name LIKE '%6'",
            "UPDATE opportunity SET lost_reason = 'other', source = 'ads' WHERE status = 'lost'",
            "UPDATE opportunity_stage_history SET seconds_in_from_stage = 86400 WHERE reason = ''",
            "UPDATE opportunity_stage_history SET changed_at = changed_at + interval '30 days' "
            "WHERE seconds_in_from_stage IS NULL",
            "DELETE FROM opportunity_stage_history "
            "WHERE to_stage_id IN (SELECT id FROM stage WHERE position = 3)",
            "DELETE FROM opportunity WHERE name LIKE '%8'",  # its history goes by cascade
        ]
        for sql in edits:
            await conn.execute(sql)
            await assert_exact(conn)
        # several statements in one transaction, and a rolled-back one
        async with conn.transaction():
            await conn.execute("UPDATE opportunity SET owner_id = 'rep-2' WHERE name LIKE '%9'")
            await conn.execute(HISTORY, "%9")
            await conn.execute("UPDATE opportunity SET team = 't3' WHERE name LIKE '%9'")
        await assert_exact(conn)
        tx = conn.transaction()
        await tx.start()
        await conn.execute("DELETE FROM opportunity")
        await tx.rollback()
        await assert_exact(conn)

        # a write that changes nothing reported touches no rollup row (no lock, no new row version)
        versions = "SELECT array_agg(xmin::text ORDER BY xmin::text) FROM {}"
        before = [await conn.fetchval(versions.format(t)) for t in ORACLE]
        await conn.execute("UPDATE opportunity SET name = name || '!', next_step = 'call'")
        assert [await conn.fetchval(versions.format(t)) for t in ORACLE] == before

        # the daily job prunes rows that fell to zero; the figures stay
        zero = await conn.fetchval("SELECT count(*) FROM opportunity_forecast_rollup WHERE count = 0")
        assert zero > 1
        # a zero row a writer holds is skipped, not waited for
        holder = await asyncpg.connect(plain_url(deals))
        try:
            async with holder.transaction():
                held = await holder.fetchval(
                    "SELECT ctid::text FROM opportunity_forecast_rollup WHERE count = 0 LIMIT 1 FOR UPDATE"
                )
                async with deals.runtime.unit_of_work() as session:
                    pruned = await asyncio.wait_for(ReportRepository(session).prune_rollups(), timeout=10)
                assert pruned > 0
                remaining = await conn.fetch(
                    "SELECT ctid::text FROM opportunity_forecast_rollup WHERE count = 0"
                )
                assert [r[0] for r in remaining] == [held]
        finally:
            await holder.close()
        async with deals.runtime.unit_of_work() as session:
            assert await ReportRepository(session).prune_rollups() == 1
        assert await conn.fetchval("SELECT count(*) FROM opportunity_forecast_rollup WHERE count = 0") == 0
        await assert_exact(conn)

        # REST writes (create, stage move, owner change) go through the same triggers
        rep = deals.auth("rep", sub="rep-1", team="t1")
        org = (await deals.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=rep)).json()
        body = {
            "name": "rest",
            "organization_id": org["id"],
            "amount": "1234.56",
            "expected_close_date": "2027-05-05",
        }
        opp = (await deals.http.post("/api/v1/opportunities", json=body, headers=rep)).json()
        r = await deals.http.post(
            f"/api/v1/opportunities/{opp['id']}/stage", json={"stage_id": str(won)}, headers=rep
        )
        assert r.status_code == 200, r.text
        r = await deals.http.patch(
            f"/api/v1/opportunities/{opp['id']}", json={"owner_id": "rep-7"}, headers=deals.auth("admin")
        )
        assert r.status_code == 200, r.text
        await assert_exact(conn)

        await conn.execute("TRUNCATE opportunity CASCADE")
        for table in ORACLE:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0
    finally:
        await conn.close()


async def _blocked(task: asyncio.Task, conn: asyncpg.Connection) -> bool:
    """True once ``task``'s backend waits on a lock (it is not done)."""
    for _ in range(100):
        if task.done():
            return False
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_rollups_stay_exact_under_concurrent_writes(crm):
    deals = await crm.start(definition, wait_nats=False)
    default, other = await two_pipelines(deals)
    url = plain_url(deals)
    check = await asyncpg.connect(url)
    a, b = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        await seed(check, default, other)
        stages = [r["id"] for r in await check.fetch("SELECT id FROM stage WHERE pipeline_id = $1", default)]
        x = await check.fetchval("SELECT id FROM opportunity WHERE owner_id = 'rep-1' LIMIT 1")
        move = MOVE

        # a history write first (it locks its opportunity FOR SHARE): an owner change waits for it, then
        # moves the new history row to the new owner too
        tx_a = a.transaction()
        await tx_a.start()
        await a.execute(move, x, stages[0], stages[1])
        tx_b = b.transaction()
        await tx_b.start()
        owner = asyncio.ensure_future(b.execute("UPDATE opportunity SET owner_id = 'rep-a' WHERE id = $1", x))
        assert await _blocked(owner, check)
        await tx_a.commit()
        await owner
        await tx_b.commit()
        await assert_exact(check)

        # an owner change first, a history write waits for it and lands on the new owner
        tx_b = b.transaction()
        await tx_b.start()
        await b.execute("UPDATE opportunity SET owner_id = 'rep-b', team = 'tb' WHERE id = $1", x)
        tx_a = a.transaction()
        await tx_a.start()
        history = asyncio.ensure_future(a.execute(move, x, stages[1], stages[2]))
        assert await _blocked(history, check)
        await tx_b.commit()
        await history
        await tx_a.commit()
        await assert_exact(check)
        key = await check.fetchrow(
            "SELECT owner_id, team FROM opportunity_stage_duration_rollup WHERE from_stage_id = $1 "
            "AND samples > 0 AND owner_id = 'rep-b'",
            stages[1],
        )
        assert tuple(key) == ("rep-b", "tb")

        # bursts: six writers, 30 transactions each, all on the same few rollup keys, some rolled back
        ids = [
            r["id"] for r in await check.fetch("SELECT id FROM opportunity WHERE pipeline_id = $1", default)
        ]
        mine = [ids[i::6] for i in range(6)]  # each writer updates its own opportunities (no row deadlocks)

        async def writer(n: int) -> None:
            rng = random.Random(n)
            conn = await asyncpg.connect(url)
            try:
                for i in range(30):
                    tx = conn.transaction()
                    await tx.start()
                    opp = rng.choice(mine[n])
                    kind = i % 4
                    if kind == 0:  # create (same owner, month, currency: one hot key) with its first move
                        new = await conn.fetchval(
                            BURST_CREATE,
                            default,
                            stages[0],
                        )
                        await conn.execute(move, new, stages[0], stages[1])
                    elif kind == 1:  # stage move: the row, then its history
                        await conn.execute(
                            "UPDATE opportunity SET stage_id = $2, probability = 50, "
                            "forecast_category = 'best_case' WHERE id = $1",
                            opp,
                            stages[2],
                        )
                        await conn.execute(move, opp, stages[1], stages[2])
                    elif kind == 2:  # reassignment
                        await conn.execute(
                            "UPDATE opportunity SET owner_id = $2, team = $3 WHERE id = $1",
                            opp,
                            rng.choice(["rep-1", "rep-2", None]),
                            rng.choice(["t1", "t2"]),
                        )
                    else:
                        await conn.execute("UPDATE opportunity SET amount = amount + 1 WHERE id = $1", opp)
                    await asyncio.sleep(rng.random() / 200)  # hold the locks a little
                    if rng.random() < 0.2:
                        await tx.rollback()
                    else:
                        await tx.commit()
            finally:
                await conn.close()

        await asyncio.gather(*(writer(n) for n in range(6)))
        await assert_exact(check)

        # and the same through the REST edge: creates, stage moves and reassignments at once
        rep = deals.auth("rep", sub="rep-1", team="t1")
        org = (await deals.http.post("/api/v1/organizations", json={"name": "Acme"}, headers=rep)).json()
        body = {
            "name": "b",
            "organization_id": org["id"],
            "amount": "10.10",
            "expected_close_date": "2027-02-02",
        }
        created = await asyncio.gather(
            *(deals.http.post("/api/v1/opportunities", json=body, headers=rep) for _ in range(20))
        )
        assert {r.status_code for r in created} == {201}
        opps = [r.json()["id"] for r in created]
        calls = [
            deals.http.post(
                f"/api/v1/opportunities/{o}/stage", json={"stage_id": str(stages[1])}, headers=rep
            )
            for o in opps[:10]
        ] + [
            deals.http.patch(f"/api/v1/opportunities/{o}", json={"owner_id": "rep-3"}, headers=deals.auth())
            for o in opps[10:]
        ]
        assert {r.status_code for r in await asyncio.gather(*calls)} == {200}
        await assert_exact(check)
    finally:
        for conn in (a, b, check):
            await conn.close()


# --- every report for any period equals a full scan (the pre-rollup queries) --------------------------------


def _where(scope: Scope, *, alias: str = "", date_column: str | None = None) -> tuple[str, dict[str, Any]]:
    p = f"{alias}." if alias else ""
    clauses, params = [], {}
    for name in ("owner_id", "team", "pipeline_id"):
        if getattr(scope, name) is not None:
            clauses.append(f"{p}{name} = ${len(params) + 1}")
            params[name] = getattr(scope, name)
    if date_column is not None and scope.start is not None:
        clauses.append(f"{date_column} >= ${len(params) + 1}::date")
        params["start"] = scope.start
    if date_column is not None and scope.end is not None:
        clauses.append(f"{date_column} < ${len(params) + 1}::date")
        params["end"] = scope.end + dt.timedelta(days=1)
    return (" AND ".join(clauses) or "TRUE"), params


async def full_scan(conn: asyncpg.Connection, scope: Scope) -> dict[str, Any]:
    where, p = _where(scope, date_column="created_at")
    funnel = await conn.fetch(
        f"SELECT stage_id, currency, furthest_position, count(*), sum(amount_cents) FROM opportunity "
        f"WHERE {where} GROUP BY 1, 2, 3",
        *p.values(),
    )
    where, p = _where(scope, date_column="expected_close_date")
    forecast = await conn.fetch(
        f"""SELECT close_month, currency, count(*),
                   coalesce(sum(amount_cents) FILTER (WHERE forecast_code < 4), 0),
                   coalesce(sum(weighted_e4), 0),
                   coalesce(sum(amount_cents) FILTER (WHERE forecast_code >= 3), 0),
                   coalesce(sum(amount_cents) FILTER (WHERE forecast_code >= 2), 0),
                   coalesce(sum(amount_cents) FILTER (WHERE forecast_code = 4), 0)
            FROM opportunity WHERE forecast_code > 0 AND close_month IS NOT NULL AND {where} GROUP BY 1, 2""",
        *p.values(),
    )
    where, p = _where(scope, date_column="closed_at")
    by_source = await conn.fetch(
        f"""SELECT source, count(*) FILTER (WHERE status = 'won'), count(*) FILTER (WHERE status = 'lost')
            FROM opportunity WHERE status IN ('won', 'lost') AND {where}
            GROUP BY source ORDER BY count(*) DESC, source""",
        *p.values(),
    )
    by_reason = await conn.fetch(
        f"""SELECT lost_reason, 0, count(*) FROM opportunity WHERE status = 'lost' AND {where}
            GROUP BY lost_reason ORDER BY count(*) DESC, lost_reason""",
        *p.values(),
    )
    where, p = _where(scope, alias="o", date_column="h.changed_at")
    durations = await conn.fetch(
        f"""SELECT h.from_stage_id, count(*), avg(h.seconds_in_from_stage)
            FROM opportunity_stage_history AS h JOIN opportunity AS o ON o.id = h.opportunity_id
            WHERE h.from_stage_id IS NOT NULL AND {where} GROUP BY 1""",
        *p.values(),
    )
    return {
        "funnel": {tuple(r[:3]): (r[3], r[4]) for r in funnel},
        "forecast": {tuple(r[:2]): tuple(r[2:]) for r in forecast},
        "by_source": [tuple(r) for r in by_source],
        "by_reason": [tuple(r) for r in by_reason],
        "durations": {r[0]: (r[1], r[2]) for r in durations},
    }


async def from_rollups(repo: ReportRepository, scope: Scope) -> dict[str, Any]:
    by_source, by_reason = await repo.win_loss(scope)
    return {
        "funnel": {
            (r.stage_id, r.currency, r.furthest_position): (r.n, r.cents) for r in await repo.funnel(scope)
        },
        "forecast": {
            (r.period, r.currency): (r.count, r.pipeline, r.weighted, r.commit, r.best_case, r.closed)
            for r in await repo.forecast(scope)
        },
        "by_source": [(r.key, r.won, r.lost) for r in by_source],
        "by_reason": [(r.key, r.won, r.lost) for r in by_reason],
        "durations": {r.stage_id: (r.samples, r.seconds) for r in await repo.stage_durations(scope)},
    }


PERIODS = [
    (None, None),
    ("2027-02-01", "2027-03-31"),  # whole months only
    ("2027-01-15", "2027-04-10"),  # both bounds inside months
    ("2027-02-03", "2027-02-20"),  # inside one month
    ("2027-01-20", "2027-02-10"),  # two adjacent part-months, no whole month
    ("2027-02-10", None),
    (None, "2027-02-10"),
    (None, "2027-02-28"),
    ("2027-03-01", None),
    ("2026-12-31", "2027-01-01"),
    ("2027-02-14", "2027-02-14"),
    ("2026-10-15", "2026-12-05"),
]


async def test_every_report_for_any_period_and_filter_equals_a_full_scan(crm):
    deals = await crm.start(definition, wait_nats=False)
    default, other = await two_pipelines(deals)
    conn = await asyncpg.connect(plain_url(deals))
    try:
        await seed(conn, default, other)
        await conn.execute("UPDATE opportunity SET owner_id = 'rep-9' WHERE name LIKE '%5'")  # history moves
        filters: list[dict[str, Any]] = [
            {},
            {"owner_id": "rep-1"},
            {"team": "t1"},
            {"pipeline_id": default},
            {"pipeline_id": other, "team": "t0"},
            {"owner_id": "rep-9", "pipeline_id": default},
        ]
        checked = 0
        async with deals.runtime.sessions() as session:
            repo = ReportRepository(session)
            for start, end in PERIODS:
                for f in filters:
                    scope = Scope(
                        start=dt.date.fromisoformat(start) if start else None,
                        end=dt.date.fromisoformat(end) if end else None,
                        **f,
                    )
                    expected, actual = await full_scan(conn, scope), await from_rollups(repo, scope)
                    assert actual == expected, (scope, {k for k in expected if expected[k] != actual[k]})
                    checked += sum(1 for v in expected.values() if v)
        assert checked > 200  # the seed gives most combinations something to count
    finally:
        await conn.close()
