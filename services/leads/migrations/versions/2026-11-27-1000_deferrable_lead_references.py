"""references to lead may be checked at commit: a create writes its audits, duplicate links and
follow-ups first and the lead row once, with its final owner and status (no UPDATE of a new row)

Revision ID: 0005_deferrable_lead_refs
Revises: 0004_lead_conversion
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005_deferrable_lead_refs"
down_revision: str | None = "0004_lead_conversion"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# still checked at each statement unless a transaction says SET CONSTRAINTS ... DEFERRED
REFERENCES = [
    ("activity", "fk_activity_lead_id_lead"),
    ("lead_audit", "fk_lead_audit_lead_id_lead"),
    ("lead_duplicate", "fk_lead_duplicate_lead_id_lead"),
    ("lead_duplicate", "fk_lead_duplicate_duplicate_of_id_lead"),
]


def upgrade() -> None:
    for table, name in REFERENCES:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} DEFERRABLE INITIALLY IMMEDIATE")


def downgrade() -> None:
    for table, name in REFERENCES:
        op.execute(f"ALTER TABLE {table} ALTER CONSTRAINT {name} NOT DEFERRABLE")
