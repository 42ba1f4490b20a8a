"""create phone_index and platform tables

Revision ID: 0001_telephony
Revises:
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from crm_platform.migrations import create_platform_tables_v1, drop_platform_tables_v1

revision: str = "0001_telephony"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables_v1(op.get_bind())
    op.create_table(
        "phone_index",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("e164", sa.String(20), nullable=False),
        sa.Column("record_service", sa.String(40), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(300), nullable=False, server_default=""),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_index")),
        sa.UniqueConstraint(
            "e164", "record_service", "record_type", "record_id", name=op.f("uq_phone_index_e164")
        ),
    )
    op.create_index(
        op.f("ix_phone_index_record_service"), "phone_index", ["record_service", "record_type", "record_id"]
    )


def downgrade() -> None:
    op.drop_table("phone_index")
    drop_platform_tables_v1(op.get_bind())
