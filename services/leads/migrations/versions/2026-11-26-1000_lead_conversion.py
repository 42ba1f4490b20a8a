"""lead conversion: one conversion per lead (its id is the idempotency key sent to deals) and the
activities it moved

Revision ID: 0004_lead_conversion
Revises: 0003_reminder_index
Create Date: 2026-11-26 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004_lead_conversion"
down_revision: str | None = "0003_reminder_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_conversion",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("in_flight_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_reason", sa.Text(), nullable=False),
        sa.Column("options", postgresql.JSONB(), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("opportunity_id", sa.Uuid(), nullable=True),
        sa.Column("organization_created", sa.Boolean(), nullable=False),
        sa.Column("contact_created", sa.Boolean(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_conversion")),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["lead.id"], name=op.f("fk_lead_conversion_lead_id_lead"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("lead_id", name=op.f("uq_lead_conversion_lead_id")),
    )
    op.create_index(
        "ix_lead_conversion_pending",
        "lead_conversion",
        ["in_flight_until"],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "lead_conversion_activity",
        sa.Column("conversion_id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("deals_activity_id", sa.Uuid(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("conversion_id", "activity_id", name=op.f("pk_lead_conversion_activity")),
        sa.ForeignKeyConstraint(
            ["conversion_id"],
            ["lead_conversion.id"],
            name=op.f("fk_lead_conversion_activity_conversion_id_lead_conversion"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        op.f("ix_lead_conversion_activity_activity_id"), "lead_conversion_activity", ["activity_id"]
    )


def downgrade() -> None:
    op.drop_table("lead_conversion_activity")
    op.drop_table("lead_conversion")
