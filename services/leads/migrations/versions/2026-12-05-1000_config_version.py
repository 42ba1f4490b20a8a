"""config_version: a counter the configuration tables bump, for the per-process config caches

Every lead create read the custom field definitions, the active assignment rules and their reps (three
queries and ORM loads per transaction). The service now keeps them per process
(crm_platform.config_cache) and checks them in each transaction against this one-row counter, which
statement-level triggers on the three tables raise in the writing transaction: a change made through any
replica, or by SQL, is seen by the next transaction everywhere.

Revision ID: 0007_config_version
Revises: 0006_gin_no_pending_list
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

from alembic import op
from crm_platform.config_cache import install_sql, uninstall_sql

revision: str = "0007_config_version"
down_revision: str | None = "0006_gin_no_pending_list"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("custom_field_def", "assignment_rule", "rep")


def upgrade() -> None:
    for statement in install_sql(TABLES):
        op.execute(statement)


def downgrade() -> None:
    for statement in uninstall_sql(TABLES):
        op.execute(statement)
