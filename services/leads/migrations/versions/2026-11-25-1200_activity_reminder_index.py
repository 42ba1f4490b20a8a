"""partial index for the reminder job

Revision ID: 0003_reminder_index
Revises: 0002_leads_domain
Create Date: 2026-11-25 12:00:00
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0003_reminder_index"
down_revision: str | None = "0002_leads_domain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_activity_reminder_due",
        "activity",
        ["remind_at"],
        postgresql_where=text("reminder_sent_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_activity_reminder_due", table_name="activity")
