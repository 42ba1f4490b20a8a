"""create lead and platform tables

Revision ID: 0001_leads
Revises:
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from crm_platform.migrations import create_platform_tables_v1, drop_platform_tables_v1
from sqlalchemy.dialects import postgresql

revision: str = "0001_leads"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables_v1(op.get_bind())
    op.create_table(
        "lead",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("first_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("company", sa.String(300), nullable=False, server_default=""),
        sa.Column("title", sa.String(200), nullable=False, server_default=""),
        sa.Column("emails", postgresql.ARRAY(sa.String(320)), nullable=False, server_default="{}"),
        sa.Column("phones", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("source", sa.String(100), nullable=False, server_default=""),
        sa.Column("status", sa.String(40), nullable=False, server_default="new"),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False, server_default=""),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead")),
    )
    op.create_index(op.f("ix_lead_status"), "lead", ["status"])
    op.create_index(op.f("ix_lead_owner_id"), "lead", ["owner_id"])


def downgrade() -> None:
    op.drop_table("lead")
    drop_platform_tables_v1(op.get_bind())
