"""All SQL of the reports: each report is one pass over ``opportunity`` (or the stage history) with the
filters pushed into the WHERE clause; forecast snapshots are written and read here too."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.reports.schemas import Scope

# Forecast semantics (Salesforce's categories): an opportunity counts when it is won or open and not
# omitted; pipeline = open amount; weighted = open amount x probability + won amount; commit = won +
# open commit; best case = won + open commit + open best case; closed = won.
_FORECAST_COLUMNS = """
    count(*) AS count,
    coalesce(sum(amount) FILTER (WHERE status = 'open'), 0) AS pipeline,
    coalesce(sum(CASE WHEN status = 'won' THEN amount ELSE amount * probability / 100.0 END), 0) AS weighted,
    coalesce(sum(amount) FILTER (WHERE status = 'won' OR forecast_category = 'commit'), 0) AS commit,
    coalesce(sum(amount) FILTER (WHERE status = 'won' OR forecast_category IN ('commit', 'best_case')), 0)
        AS best_case,
    coalesce(sum(amount) FILTER (WHERE status = 'won'), 0) AS closed
"""
_FORECAST_SET = "(status = 'won' OR (status = 'open' AND forecast_category <> 'omitted'))"


def _where(scope: Scope, *, alias: str = "", date_column: str | None = None) -> tuple[str, dict[str, Any]]:
    p = f"{alias}." if alias else ""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if scope.owner_id is not None:
        clauses.append(f"{p}owner_id = :owner_id")
        params["owner_id"] = scope.owner_id
    if scope.team is not None:
        clauses.append(f"{p}team = :team")
        params["team"] = scope.team
    if scope.pipeline_id is not None:
        clauses.append(f"{p}pipeline_id = :pipeline_id")
        params["pipeline_id"] = scope.pipeline_id
    if date_column is not None:
        if scope.start is not None:
            clauses.append(f"{date_column} >= :start")
            params["start"] = scope.start
        if scope.end is not None:
            clauses.append(f"{date_column} < :end_excl")
            params["end_excl"] = scope.end + dt.timedelta(days=1)
    return (" AND ".join(clauses) or "TRUE"), params


class ReportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def funnel(self, scope: Scope) -> tuple[list[Any], list[Any]]:
        """One scan: (stage, currency) -> count, amount; and furthest position reached -> count."""
        where, params = _where(scope, date_column="created_at")
        rows = (
            await self.session.execute(
                text(
                    f"""
                    SELECT stage_id, currency, furthest_position, count(*) AS n,
                           coalesce(sum(amount), 0) AS amount,
                           GROUPING(stage_id) AS by_position
                    FROM opportunity
                    WHERE {where}
                    GROUP BY GROUPING SETS ((stage_id, currency), (furthest_position))
                    """
                ),
                params,
            )
        ).all()
        by_stage = [r for r in rows if not r.by_position]
        by_position = [r for r in rows if r.by_position]
        return by_stage, by_position

    async def forecast(self, scope: Scope, period: str) -> list[Any]:
        where, params = _where(scope, date_column="expected_close_date")
        stmt = text(
            f"""
            SELECT date_trunc('{period}', expected_close_date)::date AS period, currency, {_FORECAST_COLUMNS}
            FROM opportunity
            WHERE expected_close_date IS NOT NULL AND {_FORECAST_SET} AND {where}
            GROUP BY 1, 2
            ORDER BY 1, 2
            """
        )
        return list((await self.session.execute(stmt, params)).all())

    async def forecast_snapshot(self, scope: Scope, period: str, as_of: dt.date) -> list[Any]:
        where, params = _where(scope, date_column="period_month")
        if scope.start is not None:  # a month that starts before ``start`` still belongs to it
            params["start"] = scope.start.replace(day=1)
        params["as_of"] = as_of
        stmt = text(
            f"""
            SELECT date_trunc('{period}', period_month)::date AS period, currency,
                   sum(count) AS count, sum(pipeline) AS pipeline, sum(weighted) AS weighted,
                   sum(commit) AS commit, sum(best_case) AS best_case, sum(closed) AS closed
            FROM forecast_snapshot
            WHERE snapshot_date = :as_of AND {where}
            GROUP BY 1, 2
            ORDER BY 1, 2
            """
        )
        return list((await self.session.execute(stmt, params)).all())

    async def has_snapshot(self, as_of: dt.date) -> bool:
        stmt = text("SELECT EXISTS (SELECT 1 FROM forecast_snapshot WHERE snapshot_date = :d)")
        return bool(await self.session.scalar(stmt, {"d": as_of}))

    async def write_snapshot(self, day: dt.date) -> int:
        """Replace the snapshot of ``day`` with the current forecast per pipeline, owner, team, month and
        currency (idempotent: running it twice on one day stores the later state once)."""
        await self.session.execute(text("DELETE FROM forecast_snapshot WHERE snapshot_date = :d"), {"d": day})
        result = await self.session.execute(
            text(
                f"""
                INSERT INTO forecast_snapshot
                    (snapshot_date, pipeline_id, owner_id, team, period_month, currency,
                     count, pipeline, weighted, commit, best_case, closed, created_at)
                SELECT :d, pipeline_id, coalesce(owner_id, ''), team,
                       date_trunc('month', expected_close_date)::date, currency, {_FORECAST_COLUMNS}, now()
                FROM opportunity
                WHERE expected_close_date IS NOT NULL AND {_FORECAST_SET}
                GROUP BY pipeline_id, coalesce(owner_id, ''), team,
                         date_trunc('month', expected_close_date), currency
                """
            ),
            {"d": day},
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def win_loss(self, scope: Scope) -> tuple[list[Any], list[Any]]:
        where, params = _where(scope, date_column="closed_at")
        by_source = (
            await self.session.execute(
                text(
                    f"""
                    SELECT source AS key, count(*) FILTER (WHERE status = 'won') AS won,
                           count(*) FILTER (WHERE status = 'lost') AS lost
                    FROM opportunity
                    WHERE status IN ('won', 'lost') AND {where}
                    GROUP BY source
                    ORDER BY count(*) DESC, source
                    """
                ),
                params,
            )
        ).all()
        by_reason = (
            await self.session.execute(
                text(
                    f"""
                    SELECT lost_reason AS key, 0 AS won, count(*) AS lost
                    FROM opportunity
                    WHERE status = 'lost' AND {where}
                    GROUP BY lost_reason
                    ORDER BY count(*) DESC, lost_reason
                    """
                ),
                params,
            )
        ).all()
        return list(by_source), list(by_reason)

    async def stage_durations(self, scope: Scope) -> list[Any]:
        where, params = _where(scope, alias="o", date_column="h.changed_at")
        stmt = text(
            f"""
            SELECT h.from_stage_id AS stage_id, count(*) AS samples,
                   avg(h.seconds_in_from_stage) AS seconds
            FROM opportunity_stage_history AS h
            JOIN opportunity AS o ON o.id = h.opportunity_id
            WHERE h.from_stage_id IS NOT NULL AND {where}
            GROUP BY h.from_stage_id
            """
        )
        return list((await self.session.execute(stmt, params)).all())


def as_decimal(value: Any) -> Decimal:
    return Decimal(value if value is not None else 0)
