"""report rollups: funnel, forecast, win/loss and time in stage summed per (pipeline, owner, team, month,
...) in tables that PostgreSQL triggers keep exact in the same transaction as every opportunity and
stage-history write, so the reports read thousands of rows instead of scanning a million

Design (see crm_deals/reports/repository.py for the reads):

- one rollup table per report, keyed by the report's filters at month grain (pipeline, owner, team, the
  report's month in UTC) and the report's group-by columns; counts and integer sums (cents, weighted x 10^4,
  seconds) as ``numeric`` so no sum can overflow;
- statement-level AFTER triggers with transition tables on ``opportunity`` (INSERT, UPDATE, DELETE) and
  ``opportunity_stage_history`` compute the net delta of the statement per key (+new rows, -old rows)
  and apply it with ``INSERT ... ON CONFLICT DO UPDATE SET x = x + delta``: concurrent writers serialise on
  the rollup row they touch and each adds its own delta, so the sums stay exact under READ COMMITTED;
  keys are applied in sorted order (fewer lock-order deadlocks between statements); a statement that
  changes no reported column (name, next step, stalled alert...) yields no delta and locks nothing;
- time in stage is also summed per UTC day (``opportunity_stage_duration_daily``, same statement): its
  filters are the opportunity's, not the history row's, so a period bound inside a month reads the edge
  days from there instead of joining history rows to opportunities;
- time in stage is reported by the opportunity's *current* pipeline, owner and team, so a change of any
  of them moves that opportunity's history between keys; a history write locks its opportunity
  ``FOR SHARE`` so it cannot race such a move; deleting an opportunity takes its history out first (a
  BEFORE DELETE row trigger: the cascaded history delete no longer sees the opportunity and skips it);
- TRUNCATE empties the rollups; rows whose count fell to zero stay until the daily snapshot job prunes them
  (readers skip them).

Needs PostgreSQL 15+ (unique keys NULLS NOT DISTINCT: owner and close/closed month may be NULL).

Revision ID: 0004_deals_report_rollups
Revises: 0003_deals_report_columns
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_deals_report_rollups"
down_revision: str | None = "0003_deals_report_columns"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _month(column: str) -> str:
    return f"date_trunc('month', {column} AT TIME ZONE 'UTC')::date"


# rollup table -> (key columns, [(sum column, expression over an opportunity row)], rows counted)
FORECAST = (
    "opportunity_forecast_rollup",
    ["pipeline_id", "owner_id", "team", "close_month", "currency", "forecast_code"],
    [("count", "1"), ("amount_cents", "amount_cents"), ("weighted_e4", "weighted_e4")],
    "forecast_code > 0 AND close_month IS NOT NULL",
)
FUNNEL = (
    "opportunity_funnel_rollup",
    ["pipeline_id", "stage_id", "owner_id", "team", "created_month", "currency", "furthest_position"],
    [("count", "1"), ("amount_cents", "amount_cents")],
    "TRUE",
)
WIN_LOSS = (
    "opportunity_win_loss_rollup",
    ["pipeline_id", "owner_id", "team", "closed_month", "status", "source", "lost_reason"],
    [("count", "1")],
    "status IN ('won', 'lost')",
)
DURATION_KEY = ["pipeline_id", "owner_id", "team", "from_stage_id", "changed_month"]
DAILY_KEY = ["pipeline_id", "changed_day", "from_stage_id", "owner_id", "team"]  # day ranges per pipeline
DURATION_SUMS = ["samples", "timed", "seconds"]
# an opportunity row's key expressions (a column of the row unless computed here)
COMPUTED = {"created_month": _month("created_at"), "closed_month": _month("closed_at")}


def _upsert(table: str, key: list[str], sums: list[str], delta_rows: str) -> str:
    """Apply ``delta_rows`` (key columns, sign-weighted sum columns) as += deltas, keys in order."""
    keys = ", ".join(key)
    changed = " OR ".join(f"sum({s}) <> 0" for s in sums)
    return f"""
    INSERT INTO {table} AS r ({keys}, {", ".join(sums)})
    SELECT {keys}, {", ".join(f"sum({s})" for s in sums)}
    FROM ({delta_rows}) AS d
    GROUP BY {keys}
    HAVING {changed}
    ORDER BY {keys}
    ON CONFLICT ({keys}) DO UPDATE SET {", ".join(f"{s} = r.{s} + excluded.{s}" for s in sums)};
    """


def _durations_upsert(day_rows: str) -> str:
    """Apply history delta rows (key columns with ``changed_day``, sign-weighted sums) to the monthly and
    the daily time-in-stage rollups in one statement (the rows, and their locks, are computed once)."""
    monthly = _upsert(
        DURATION_TABLE,
        DURATION_KEY,
        DURATION_SUMS,
        "SELECT pipeline_id, owner_id, team, from_stage_id, date_trunc('month', changed_day)::date "
        "AS changed_month, samples, timed, seconds FROM d",
    )
    daily = _upsert(DAILY_TABLE, DAILY_KEY, DURATION_SUMS, "SELECT * FROM d")
    return f"""
    WITH d AS MATERIALIZED ({day_rows}),
    monthly AS ({monthly.strip().rstrip(";")} RETURNING 1)
    {daily}
    """


def _opportunity_upsert(
    spec: tuple[str, list[str], list[tuple[str, str]], str], signs: dict[str, int]
) -> str:
    table, key, sums, where = spec
    branches = []
    for source, sign in signs.items():
        columns = [f"{COMPUTED.get(k, k)} AS {k}" for k in key]
        columns += [f"{sign} * {expr} AS {name}" for name, expr in sums]
        branches.append(f"SELECT {', '.join(columns)} FROM {source} WHERE {where}")
    return _upsert(table, key, [name for name, _ in sums], " UNION ALL ".join(branches))


def _history_rows(source: str, sign: int, *, lock: bool = True) -> str:
    """``source`` history rows with their opportunity's current pipeline, owner and team; the opportunity
    is locked FOR SHARE so a concurrent owner/team/pipeline change waits (or is waited for)."""
    return f"""
        SELECT o.pipeline_id, o.owner_id, o.team, h.from_stage_id,
               (h.changed_at AT TIME ZONE 'UTC')::date AS changed_day,
               {sign} AS samples,
               {sign} * (h.seconds_in_from_stage IS NOT NULL)::int AS timed,
               {sign} * coalesce(h.seconds_in_from_stage, 0) AS seconds
        FROM {source} AS h
        CROSS JOIN LATERAL (
            SELECT pipeline_id, owner_id, team FROM opportunity WHERE id = h.opportunity_id
            {"FOR SHARE" if lock else ""}
        ) AS o
        WHERE h.from_stage_id IS NOT NULL
    """


def _moved_history(side: str, sign: int) -> str:
    """History of the opportunities of this UPDATE whose pipeline, owner or team changed, keyed by the
    ``side`` (old_rows: taken out, new_rows: put in)."""
    return f"""
        SELECT s.pipeline_id, s.owner_id, s.team, h.from_stage_id,
               (h.changed_at AT TIME ZONE 'UTC')::date AS changed_day,
               {sign} AS samples,
               {sign} * (h.seconds_in_from_stage IS NOT NULL)::int AS timed,
               {sign} * coalesce(h.seconds_in_from_stage, 0) AS seconds
        FROM old_rows AS o
        JOIN new_rows AS n ON n.id = o.id
        JOIN {side} AS s ON s.id = o.id
        CROSS JOIN LATERAL (
            SELECT from_stage_id, changed_at, seconds_in_from_stage
            FROM opportunity_stage_history WHERE opportunity_id = o.id AND from_stage_id IS NOT NULL
        ) AS h
        WHERE (o.pipeline_id, o.owner_id, o.team) IS DISTINCT FROM (n.pipeline_id, n.owner_id, n.team)
    """


def _function(name: str, body: str, returns: str = "NULL") -> str:
    return f"""
    CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
    {body}
    RETURN {returns};
    END
    $fn$;
    """


OPPORTUNITY_SPECS = (FORECAST, FUNNEL, WIN_LOSS)
# every opportunity column a rollup key or sum depends on (generated columns included)
REPORTED_COLUMNS = [
    "pipeline_id",
    "stage_id",
    "owner_id",
    "team",
    "currency",
    "furthest_position",
    "created_at",
    "closed_at",
    "close_month",
    "forecast_code",
    "amount_cents",
    "weighted_e4",
    "status",
    "source",
    "lost_reason",
]
DURATION_TABLE = "opportunity_stage_duration_rollup"
DAILY_TABLE = "opportunity_stage_duration_daily"
ROLLUPS = [FORECAST[0], FUNNEL[0], WIN_LOSS[0], DURATION_TABLE, DAILY_TABLE]


def _functions() -> list[str]:
    on_insert = "".join(_opportunity_upsert(s, {"new_rows": 1}) for s in OPPORTUNITY_SPECS)
    on_delete = "".join(_opportunity_upsert(s, {"old_rows": -1}) for s in OPPORTUNITY_SPECS)
    # most updates (a renamed deal, a next step, the stalled alert) change no reported column: stop early
    old_columns = ", ".join(f"o.{c}" for c in REPORTED_COLUMNS)
    new_columns = ", ".join(f"n.{c}" for c in REPORTED_COLUMNS)
    on_update = f"""
    IF NOT EXISTS (
        SELECT 1 FROM new_rows AS n LEFT JOIN old_rows AS o ON o.id = n.id
        WHERE o.id IS NULL
           OR ({old_columns}) IS DISTINCT FROM ({new_columns})
    ) THEN
        RETURN NULL;
    END IF;
    """
    on_update += "".join(_opportunity_upsert(s, {"new_rows": 1, "old_rows": -1}) for s in OPPORTUNITY_SPECS)
    on_update += _durations_upsert(
        f"{_moved_history('old_rows', -1)} UNION ALL {_moved_history('new_rows', 1)}",
    )
    before_delete = _durations_upsert(
        """
        SELECT OLD.pipeline_id, OLD.owner_id, OLD.team, from_stage_id,
               (changed_at AT TIME ZONE 'UTC')::date AS changed_day,
               -1 AS samples, -(seconds_in_from_stage IS NOT NULL)::int AS timed,
               -coalesce(seconds_in_from_stage, 0) AS seconds
        FROM opportunity_stage_history WHERE opportunity_id = OLD.id AND from_stage_id IS NOT NULL
        """,
    )
    history = {
        "insert": _history_rows("new_rows", 1),
        "update": f"{_history_rows('new_rows', 1)} UNION ALL {_history_rows('old_rows', -1)}",
        "delete": _history_rows("old_rows", -1),
    }
    truncate_all = "".join(f"DELETE FROM {t};" for t in ROLLUPS)
    return [
        _function("deals_rollup_opportunity_insert", on_insert),
        _function("deals_rollup_opportunity_update", on_update),
        _function("deals_rollup_opportunity_delete", on_delete),
        _function("deals_rollup_opportunity_before_delete", before_delete, returns="OLD"),
        _function("deals_rollup_opportunity_truncate", truncate_all),
        *(
            _function(f"deals_rollup_history_{event}", _durations_upsert(rows))
            for event, rows in history.items()
        ),
        _function(
            "deals_rollup_history_truncate", f"DELETE FROM {DURATION_TABLE}; DELETE FROM {DAILY_TABLE};"
        ),
    ]


TRIGGERS = [
    # name, table, timing and event, transition tables, level, function
    (
        "rollup_insert",
        "opportunity",
        "AFTER INSERT",
        "NEW TABLE AS new_rows",
        "STATEMENT",
        "opportunity_insert",
    ),
    (
        "rollup_update",
        "opportunity",
        "AFTER UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "STATEMENT",
        "opportunity_update",
    ),
    (
        "rollup_delete",
        "opportunity",
        "AFTER DELETE",
        "OLD TABLE AS old_rows",
        "STATEMENT",
        "opportunity_delete",
    ),
    ("rollup_history_out", "opportunity", "BEFORE DELETE", "", "ROW", "opportunity_before_delete"),
    ("rollup_truncate", "opportunity", "AFTER TRUNCATE", "", "STATEMENT", "opportunity_truncate"),
    (
        "rollup_insert",
        "opportunity_stage_history",
        "AFTER INSERT",
        "NEW TABLE AS new_rows",
        "STATEMENT",
        "history_insert",
    ),
    (
        "rollup_update",
        "opportunity_stage_history",
        "AFTER UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "STATEMENT",
        "history_update",
    ),
    (
        "rollup_delete",
        "opportunity_stage_history",
        "AFTER DELETE",
        "OLD TABLE AS old_rows",
        "STATEMENT",
        "history_delete",
    ),
    ("rollup_truncate", "opportunity_stage_history", "AFTER TRUNCATE", "", "STATEMENT", "history_truncate"),
]


def _sum(name: str) -> sa.Column:
    return sa.Column(name, sa.Numeric(), nullable=False, server_default="0")


def upgrade() -> None:
    uuid_key = sa.Uuid()
    op.create_table(
        FORECAST[0],
        sa.Column("pipeline_id", uuid_key, nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("close_month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("forecast_code", sa.SmallInteger(), nullable=False),
        _sum("count"),
        _sum("amount_cents"),
        _sum("weighted_e4"),
    )
    op.create_table(
        FUNNEL[0],
        sa.Column("pipeline_id", uuid_key, nullable=False),
        sa.Column("stage_id", uuid_key, nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("created_month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("furthest_position", sa.Integer(), nullable=False),
        _sum("count"),
        _sum("amount_cents"),
    )
    op.create_table(
        WIN_LOSS[0],
        sa.Column("pipeline_id", uuid_key, nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("closed_month", sa.Date(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("lost_reason", sa.String(200), nullable=False),
        _sum("count"),
    )
    for table, grain in ((DURATION_TABLE, "changed_month"), (DAILY_TABLE, "changed_day")):
        op.create_table(
            table,
            sa.Column("pipeline_id", uuid_key, nullable=False),
            sa.Column("owner_id", sa.String(100), nullable=True),
            sa.Column("team", sa.String(100), nullable=False),
            sa.Column("from_stage_id", uuid_key, nullable=False),
            sa.Column(grain, sa.Date(), nullable=False),
            _sum("samples"),
            _sum("timed"),
            _sum("seconds"),
        )
    for table, key in (
        (FORECAST[0], FORECAST[1]),
        (FUNNEL[0], FUNNEL[1]),
        (WIN_LOSS[0], WIN_LOSS[1]),
        (DURATION_TABLE, DURATION_KEY),
        (DAILY_TABLE, DAILY_KEY),
    ):
        op.create_index(f"uq_{table}_key", table, key, unique=True, postgresql_nulls_not_distinct=True)

    # no opportunity or history write may slip between the backfill and the triggers
    op.execute("LOCK TABLE opportunity, opportunity_stage_history IN SHARE ROW EXCLUSIVE MODE")
    for statement in _functions():
        op.execute(statement)
    for name, table, when, transition, level, function in TRIGGERS:
        referencing = f"REFERENCING {transition}" if transition else ""
        op.execute(
            f"CREATE TRIGGER {name} {when} ON {table} {referencing} "
            f"FOR EACH {level} EXECUTE FUNCTION deals_rollup_{function}()"
        )
    # backfill: what the insert triggers would have summed for the rows already there
    for spec in OPPORTUNITY_SPECS:
        op.execute(_opportunity_upsert(spec, {"opportunity": 1}))
    # (the tables are locked already: no FOR SHARE on every opportunity)
    op.execute(_durations_upsert(_history_rows("opportunity_stage_history", 1, lock=False)))

    # the funnel's whole months come from the rollup; its edge months (a period bound inside a month) read
    # opportunities by creation time, so its covering index is keyed by pipeline and creation time now
    op.drop_index("ix_opportunity_funnel", table_name="opportunity")
    op.create_index(
        "ix_opportunity_funnel",
        "opportunity",
        ["pipeline_id", "created_at"],
        postgresql_include=["stage_id", "currency", "furthest_position", "amount_cents", "owner_id", "team"],
    )


def downgrade() -> None:
    op.drop_index("ix_opportunity_funnel", table_name="opportunity")
    op.create_index(
        "ix_opportunity_funnel",
        "opportunity",
        ["pipeline_id", "stage_id", "currency", "furthest_position"],
        postgresql_include=["amount_cents", "owner_id", "team", "created_at"],
    )
    for name, table, *_ in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    for statement in _functions():
        function = statement.split("CREATE FUNCTION ", 1)[1].split("(", 1)[0]
        op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    for table in reversed(ROLLUPS):
        op.drop_table(table)
