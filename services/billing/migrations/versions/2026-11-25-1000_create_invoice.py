"""create invoice and platform tables

Revision ID: 0001_billing
Revises:
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from crm_platform.migrations import create_platform_tables_v1, drop_platform_tables_v1

revision: str = "0001_billing"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables_v1(op.get_bind())
    op.create_table(
        "invoice",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(40), nullable=True),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", sa.Numeric(18, 2), nullable=False),
        sa.Column("status", sa.String(20), nullable=False, server_default="draft"),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice")),
        sa.UniqueConstraint("number", name=op.f("uq_invoice_number")),
    )
    op.create_index(op.f("ix_invoice_customer_id"), "invoice", ["customer_id"])
    op.create_index(op.f("ix_invoice_status"), "invoice", ["status"])
    op.create_index(op.f("ix_invoice_owner_id"), "invoice", ["owner_id"])


def downgrade() -> None:
    op.drop_table("invoice")
    drop_platform_tables_v1(op.get_bind())
