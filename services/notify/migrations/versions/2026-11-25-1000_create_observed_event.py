"""create observed_event and platform tables

Revision ID: 0001_notify
Revises:
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from crm_platform.migrations import create_platform_tables_v1, drop_platform_tables_v1
from sqlalchemy.dialects import postgresql

revision: str = "0001_notify"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables_v1(op.get_bind())
    op.create_table(
        "observed_event",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("aggregate_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("summary", postgresql.JSONB(), nullable=False, server_default="{}"),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_observed_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_observed_event_event_id")),
    )
    op.create_index(op.f("ix_observed_event_subject"), "observed_event", ["subject"])
    op.create_index(op.f("ix_observed_event_received_at"), "observed_event", ["received_at"])


def downgrade() -> None:
    op.drop_table("observed_event")
    drop_platform_tables_v1(op.get_bind())
