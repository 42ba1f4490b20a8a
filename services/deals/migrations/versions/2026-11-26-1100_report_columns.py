"""report columns: close month, amounts in cents, weighted amount x 10^4 and a forecast code, generated
by PostgreSQL, with covering indexes, so funnel and forecast aggregate integers in one index-only pass

Revision ID: 0003_deals_report_columns
Revises: 0002_deals_pipeline
Create Date: 2026-11-26 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_deals_report_columns"
down_revision: str | None = "0002_deals_pipeline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLOSE_MONTH = "expected_close_date - (extract(day from expected_close_date)::int - 1)"
AMOUNT_CENTS = "(amount * 100)::bigint"
WEIGHTED_E4 = (
    "CASE status WHEN 'won' THEN (amount * 10000)::bigint "
    "WHEN 'open' THEN (amount * 100 * probability)::bigint ELSE 0 END"
)
FORECAST_CODE = (
    "CASE status WHEN 'won' THEN 4 WHEN 'lost' THEN 0 ELSE CASE forecast_category "
    "WHEN 'commit' THEN 3 WHEN 'best_case' THEN 2 WHEN 'pipeline' THEN 1 ELSE 0 END END"
)


def upgrade() -> None:
    op.add_column(
        "opportunity", sa.Column("close_month", sa.Date(), sa.Computed(CLOSE_MONTH, persisted=True))
    )
    op.add_column(
        "opportunity", sa.Column("amount_cents", sa.BigInteger(), sa.Computed(AMOUNT_CENTS, persisted=True))
    )
    op.add_column(
        "opportunity", sa.Column("weighted_e4", sa.BigInteger(), sa.Computed(WEIGHTED_E4, persisted=True))
    )
    op.add_column(
        "opportunity",
        sa.Column("forecast_code", sa.SmallInteger(), sa.Computed(FORECAST_CODE, persisted=True)),
    )
    op.create_index(
        "ix_opportunity_forecast",
        "opportunity",
        ["close_month", "currency", "forecast_code"],
        postgresql_include=[
            "amount_cents",
            "weighted_e4",
            "expected_close_date",
            "owner_id",
            "team",
            "pipeline_id",
        ],
        postgresql_where=sa.text("forecast_code > 0"),
    )
    op.create_index(
        "ix_opportunity_funnel",
        "opportunity",
        ["pipeline_id", "stage_id", "currency", "furthest_position"],
        postgresql_include=["amount_cents", "owner_id", "team", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_opportunity_funnel", table_name="opportunity")
    op.drop_index("ix_opportunity_forecast", table_name="opportunity")
    for column in ("forecast_code", "weighted_e4", "amount_cents", "close_month"):
        op.drop_column("opportunity", column)
