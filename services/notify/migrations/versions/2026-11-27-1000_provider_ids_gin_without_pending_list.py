"""the message's provider-id GIN index without a pending list (fastupdate off)

Every accepted send writes its provider message ids into this index and every delivery receipt (SMPP
DLR, fax job status) looks a message up by one of them, at the same rate. With fastupdate on, new
entries wait in a pending list (up to gin_pending_list_limit, 4 MB) that each lookup scans linearly
until (auto)vacuum merges it; without it each write updates the tree and lookups stay index probes
(the same change as leads' migration 0006, measured there: 6.9 ms -> 0.06 ms per probe).

Revision ID: 0003_provider_ids_gin
Revises: 0002_notify
Create Date: 2026-11-27 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_provider_ids_gin"
down_revision: str | None = "0002_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER INDEX ix_message_provider_ids SET (fastupdate = off)")


def downgrade() -> None:
    op.execute("ALTER INDEX ix_message_provider_ids RESET (fastupdate)")
