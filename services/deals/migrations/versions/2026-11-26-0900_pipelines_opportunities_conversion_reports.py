"""organizations and contacts grow contact points, addresses and lifecycle; pipelines with stages,
opportunities with stage history, snoozes and activities, lead conversions, forecast snapshots and
customer payments; a default pipeline is seeded

Revision ID: 0002_deals_pipeline
Revises: 0001_deals
Create Date: 2026-11-26 09:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_deals_pipeline"
down_revision: str | None = "0001_deals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NS = uuid.UUID("6f1c2d0e-8c55-4f7e-9a51-2b3c4d5e6f70")
DEFAULT_PIPELINE = uuid.uuid5(NS, "pipeline:sales")
DEFAULT_STAGES = [
    # name, kind, probability, forecast category, max days in stage
    ("Qualification", "open", 10, "pipeline", 14),
    ("Needs analysis", "open", 25, "pipeline", 21),
    ("Proposal", "open", 50, "best_case", 21),
    ("Negotiation", "open", 75, "commit", 14),
    ("Closed won", "won", 100, "closed", 0),
    ("Closed lost", "lost", 0, "omitted", 0),
]


def _ts(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def _lifecycle_and_address(table: str) -> None:
    for column in (
        sa.Column("phone_numbers", postgresql.ARRAY(sa.String(32)), nullable=False, server_default="{}"),
        sa.Column("street", sa.String(500), nullable=False, server_default=""),
        sa.Column("city", sa.String(200), nullable=False, server_default=""),
        sa.Column("region", sa.String(200), nullable=False, server_default=""),
        sa.Column("postal_code", sa.String(32), nullable=False, server_default=""),
        sa.Column("country", sa.String(2), nullable=False, server_default=""),
        sa.Column("buyer_status", sa.String(20), nullable=False, server_default="prospect"),
        sa.Column("paid_invoices", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("first_paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_paid_at", sa.DateTime(timezone=True), nullable=True),
    ):
        op.add_column(table, column)
    op.create_index(f"ix_{table}_phone_numbers", table, ["phone_numbers"], postgresql_using="gin")
    op.create_index(f"ix_{table}_team", table, ["team"])


def upgrade() -> None:
    _lifecycle_and_address("organization")
    op.add_column("organization", sa.Column("name_key", sa.String(300), nullable=False, server_default=""))
    op.add_column(
        "organization",
        sa.Column("emails", postgresql.ARRAY(sa.String(320)), nullable=False, server_default="{}"),
    )
    op.add_column("organization", sa.Column("industry", sa.String(200), nullable=False, server_default=""))
    op.add_column("organization", sa.Column("description", sa.Text(), nullable=False, server_default=""))
    op.create_index("ix_organization_name_key", "organization", ["name_key"])
    op.execute(
        "UPDATE organization SET name_key = lower(regexp_replace(name, '[^[:alnum:][:space:]]', ' ', 'g'))"
    )
    op.execute(
        "UPDATE organization SET phone_numbers = "
        "ARRAY(SELECT p->>'e164' FROM jsonb_array_elements(phones) AS p)"
    )

    _lifecycle_and_address("contact")
    op.add_column("contact", sa.Column("title", sa.String(200), nullable=False, server_default=""))
    op.create_index("ix_contact_emails", "contact", ["emails"], postgresql_using="gin")
    op.execute(
        "UPDATE contact SET phone_numbers = ARRAY(SELECT p->>'e164' FROM jsonb_array_elements(phones) AS p)"
    )

    op.create_table(
        "pipeline",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false()),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline")),
    )
    op.create_index(
        "uq_pipeline_default", "pipeline", ["is_default"], unique=True, postgresql_where=sa.text("is_default")
    )
    op.create_table(
        "stage",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("probability", sa.SmallInteger(), nullable=False),
        sa.Column("forecast_category", sa.String(20), nullable=False),
        sa.Column("max_days_in_stage", sa.Integer(), nullable=False, server_default="0"),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stage")),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipeline.id"], name=op.f("fk_stage_pipeline_id_pipeline"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint("pipeline_id", "position", name="uq_stage_pipeline_position"),
        sa.CheckConstraint("probability BETWEEN 0 AND 100", name=op.f("ck_stage_probability")),
        sa.CheckConstraint("kind IN ('open', 'won', 'lost')", name=op.f("ck_stage_kind")),
    )

    op.create_table(
        "opportunity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("probability", sa.SmallInteger(), nullable=False),
        sa.Column("forecast_category", sa.String(20), nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="open"),
        sa.Column("expected_close_date", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("team", sa.String(100), nullable=False, server_default=""),
        sa.Column("source", sa.String(100), nullable=False, server_default=""),
        sa.Column("campaign", sa.String(200), nullable=False, server_default=""),
        sa.Column("lost_reason", sa.String(200), nullable=False, server_default=""),
        sa.Column("next_step", sa.String(500), nullable=False, server_default=""),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("stage_entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("furthest_position", sa.Integer(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.Date(), nullable=True),
        sa.Column("stalled_alerted_at", sa.DateTime(timezone=True), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity")),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipeline.id"], name=op.f("fk_opportunity_pipeline_id_pipeline")
        ),
        sa.ForeignKeyConstraint(["stage_id"], ["stage.id"], name=op.f("fk_opportunity_stage_id_stage")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_opportunity_organization_id_organization"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_opportunity_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.CheckConstraint("probability BETWEEN 0 AND 100", name=op.f("ck_opportunity_probability")),
        sa.CheckConstraint("status IN ('open', 'won', 'lost')", name=op.f("ck_opportunity_status")),
    )
    op.create_index("ix_opportunity_owner_id", "opportunity", ["owner_id"])
    op.create_index("ix_opportunity_team", "opportunity", ["team"])
    op.create_index("ix_opportunity_pipeline_stage", "opportunity", ["pipeline_id", "stage_id"])
    op.create_index("ix_opportunity_organization_id", "opportunity", ["organization_id"])
    op.create_index("ix_opportunity_contact_id", "opportunity", ["contact_id"])
    op.create_index("ix_opportunity_expected_close_date", "opportunity", ["expected_close_date"])
    op.create_index("ix_opportunity_closed_at", "opportunity", ["closed_at"])
    op.create_index(
        "ix_opportunity_open_stage_entered",
        "opportunity",
        ["stage_entered_at"],
        postgresql_where=sa.text("status = 'open'"),
    )

    op.create_table(
        "opportunity_stage_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("opportunity_id", sa.Uuid(), nullable=False),
        sa.Column("from_stage_id", sa.Uuid(), nullable=True),
        sa.Column("to_stage_id", sa.Uuid(), nullable=False),
        sa.Column("changed_by", sa.String(100), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds_in_from_stage", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.String(500), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_stage_history")),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_opportunity_stage_history_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_opportunity_stage_history_opportunity_id", "opportunity_stage_history", ["opportunity_id"]
    )
    op.create_index(
        "ix_opportunity_stage_history_from_changed",
        "opportunity_stage_history",
        ["from_stage_id", "changed_at"],
    )

    op.create_table(
        "opportunity_snooze",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("opportunity_id", sa.Uuid(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("snoozed_by", sa.String(100), nullable=False),
        sa.Column("stage_id", sa.Uuid(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opportunity_snooze")),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_opportunity_snooze_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_opportunity_snooze_opportunity_id", "opportunity_snooze", ["opportunity_id"])

    op.create_table(
        "deal_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("opportunity_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False, server_default=""),
        sa.Column("body", sa.Text(), nullable=False, server_default=""),
        sa.Column("owner_id", sa.String(100), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False, server_default=""),
        sa.Column("source_ref", sa.String(100), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_activity")),
        sa.UniqueConstraint("source_ref", name="uq_deal_activity_source_ref"),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["opportunity.id"],
            name=op.f("fk_deal_activity_opportunity_id_opportunity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contact.id"],
            name=op.f("fk_deal_activity_contact_id_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_deal_activity_organization_id_organization"),
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_deal_activity_opportunity_id", "deal_activity", ["opportunity_id"])
    op.create_index("ix_deal_activity_contact_id", "deal_activity", ["contact_id"])

    op.create_table(
        "lead_conversion",
        sa.Column("conversion_id", sa.Uuid(), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("opportunity_id", sa.Uuid(), nullable=True),
        sa.Column("organization_created", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("contact_created", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("moved_activities", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("actor_id", sa.String(100), nullable=False, server_default=""),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("conversion_id", name=op.f("pk_lead_conversion")),
        sa.UniqueConstraint("lead_id", name="uq_lead_conversion_lead_id"),
    )

    op.create_table(
        "forecast_snapshot",
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(100), nullable=False),
        sa.Column("team", sa.String(100), nullable=False),
        sa.Column("period_month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.Numeric(20, 2), nullable=False),
        sa.Column("weighted", sa.Numeric(24, 4), nullable=False),
        sa.Column("commit", sa.Numeric(20, 2), nullable=False),
        sa.Column("best_case", sa.Numeric(20, 2), nullable=False),
        sa.Column("closed", sa.Numeric(20, 2), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint(
            "snapshot_date",
            "pipeline_id",
            "owner_id",
            "team",
            "period_month",
            "currency",
            name=op.f("pk_forecast_snapshot"),
        ),
    )

    op.create_table(
        "customer_payment",
        sa.Column("invoice_id", sa.String(64), nullable=False),
        sa.Column("customer_kind", sa.String(20), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(18, 2), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("invoice_id", name=op.f("pk_customer_payment")),
    )
    op.create_index(
        "ix_customer_payment_customer", "customer_payment", ["customer_kind", "customer_id", "paid_at"]
    )

    pipeline = sa.table(
        "pipeline",
        sa.column("id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("is_default", sa.Boolean()),
    )
    stage = sa.table(
        "stage",
        sa.column("id", sa.Uuid()),
        sa.column("pipeline_id", sa.Uuid()),
        sa.column("name", sa.String()),
        sa.column("position", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("probability", sa.SmallInteger()),
        sa.column("forecast_category", sa.String()),
        sa.column("max_days_in_stage", sa.Integer()),
    )
    op.bulk_insert(pipeline, [{"id": DEFAULT_PIPELINE, "name": "Sales", "is_default": True}])
    op.bulk_insert(
        stage,
        [
            {
                "id": uuid.uuid5(NS, f"stage:sales:{position}"),
                "pipeline_id": DEFAULT_PIPELINE,
                "name": name,
                "position": position,
                "kind": kind,
                "probability": probability,
                "forecast_category": category,
                "max_days_in_stage": max_days,
            }
            for position, (name, kind, probability, category, max_days) in enumerate(DEFAULT_STAGES, start=1)
        ],
    )


def downgrade() -> None:
    for table in (
        "customer_payment",
        "forecast_snapshot",
        "lead_conversion",
        "deal_activity",
        "opportunity_snooze",
        "opportunity_stage_history",
        "opportunity",
        "stage",
        "pipeline",
    ):
        op.drop_table(table)
    for table in ("organization", "contact"):
        op.drop_index(f"ix_{table}_phone_numbers", table_name=table)
        op.drop_index(f"ix_{table}_team", table_name=table)
        for column in (
            "phone_numbers",
            "street",
            "city",
            "region",
            "postal_code",
            "country",
            "buyer_status",
            "paid_invoices",
            "first_paid_at",
            "last_paid_at",
        ):
            op.drop_column(table, column)
    op.drop_index("ix_contact_emails", table_name="contact")
    op.drop_column("contact", "title")
    op.drop_index("ix_organization_name_key", table_name="organization")
    for column in ("name_key", "emails", "industry", "description"):
        op.drop_column("organization", column)
