"""create organization, contact and platform tables

Revision ID: 0001_deals
Revises:
Create Date: 2026-11-25 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from crm_platform.migrations import create_platform_tables_v1, drop_platform_tables_v1
from sqlalchemy.dialects import postgresql

revision: str = "0001_deals"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_platform_tables_v1(op.get_bind())
    op.create_table(
        "organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("domain", sa.String(253), nullable=False, server_default=""),
        sa.Column("phones", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
    )
    op.create_index(op.f("ix_organization_domain"), "organization", ["domain"])
    op.create_index(op.f("ix_organization_owner_id"), "organization", ["owner_id"])
    op.create_table(
        "contact",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("first_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("last_name", sa.String(200), nullable=False, server_default=""),
        sa.Column("emails", postgresql.ARRAY(sa.String(320)), nullable=False, server_default="{}"),
        sa.Column("phones", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_contact_organization_id_organization"),
            ondelete="SET NULL",
        ),
    )
    op.create_index(op.f("ix_contact_organization_id"), "contact", ["organization_id"])
    op.create_index(op.f("ix_contact_owner_id"), "contact", ["owner_id"])


def downgrade() -> None:
    op.drop_table("contact")
    op.drop_table("organization")
    drop_platform_tables_v1(op.get_bind())
