"""phone_index_source: per indexed record, when its latest applied event happened and whether it was
merged into another record, so late or out-of-order events (an update handled before the create, a
pre-merge update handled after the merge) cannot bring back stale phones

Revision ID: 0002_telephony_index_source
Revises: 0001_telephony
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_telephony_index_source"
down_revision: str | None = "0001_telephony"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phone_index_source",
        sa.Column("record_service", sa.String(40), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("merged_into_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint(
            "record_service", "record_type", "record_id", name=op.f("pk_phone_index_source")
        ),
    )


def downgrade() -> None:
    op.drop_table("phone_index_source")
