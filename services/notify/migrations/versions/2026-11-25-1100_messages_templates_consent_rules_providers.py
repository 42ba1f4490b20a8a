"""messages, status history, attempts, receipts; templates; consent and preferences; recipient
directory; rules; providers. Seeds the built-in templates (lead_assigned, lead_nurture, consent_confirm).

Revision ID: 0002_notify
Revises: 0001_notify
Create Date: 2026-11-25 11:00:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Built-in templates; editable over REST afterwards. (key, channel, locale, subject, body_text)
SEED_TEMPLATES = [
    (
        "lead_assigned",
        "email",
        "en",
        "New lead: {{ lead.name or lead.company or lead_id }}",
        "Hello {{ user.name or 'there' }},\n\nthe lead {{ lead.name or lead_id }} ({{ lead.company }}) "
        "is now yours.\n{% if reason %}Reason: {{ reason }}\n{% endif %}\nPlease call them soon.",
    ),
    (
        "lead_assigned",
        "email",
        "fa",
        "سرنخ جدید: {{ lead.name or lead.company or lead_id }}",
        "سلام {{ user.name }}،\n\nسرنخ {{ lead.name or lead_id }} ({{ lead.company }}) به شما واگذار شد.\n"
        "لطفاً به زودی تماس بگیرید.",
    ),
    (
        "lead_assigned",
        "email",
        "he",
        "ליד חדש: {{ lead.name or lead.company or lead_id }}",
        "שלום {{ user.name }},\n\nהליד {{ lead.name or lead_id }} ({{ lead.company }}) הועבר אליך.\n"  # noqa: RUF001
        "נא ליצור קשר בהקדם.",
    ),
    (
        "lead_assigned",
        "email",
        "hu",
        "Új érdeklődő: {{ lead.name or lead.company or lead_id }}",
        "Kedves {{ user.name }}!\n\nA(z) {{ lead.name or lead_id }} ({{ lead.company }}) érdeklődőt "
        "Önhöz rendeltük.\nKérjük, mielőbb vegye fel vele a kapcsolatot.",
    ),
    (
        "lead_nurture",
        "email",
        "en",
        "Thank you for your interest, {{ lead.name }}",
        "Dear {{ lead.name }},\n\nthank you for talking to us. Here is what we can do for "
        "{{ lead.company or 'you' }}.",
    ),
    (
        "lead_nurture",
        "email",
        "fa",
        "از توجه شما سپاسگزاریم، {{ lead.name }}",
        "{{ lead.name }} گرامی،\n\nاز گفتگوی شما با ما سپاسگزاریم.",  # noqa: RUF001
    ),
    ("lead_nurture", "sms", "en", "", "Hi {{ lead.name }}, thanks for talking to us!"),
    ("lead_nurture", "sms", "fa", "", "{{ lead.name }} عزیز، از گفتگوی شما با ما سپاسگزاریم."),
    (
        "consent_confirm",
        "email",
        "en",
        "Please confirm your subscription",
        "Please confirm that you want to receive our news: {{ confirm_url }}",
    ),
    (
        "consent_confirm",
        "email",
        "fa",
        "لطفاً اشتراک خود را تأیید کنید",
        "برای دریافت اخبار ما، لطفاً این پیوند را تأیید کنید: {{ confirm_url }}",
    ),
    ("consent_confirm", "sms", "en", "", "Reply-free confirmation: {{ confirm_url }}"),
]

revision: str = "0002_notify"
down_revision: str | None = "0001_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent",
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("confirm_token_hash", sa.String(length=64), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
        sa.UniqueConstraint("channel", "address", "purpose", name="uq_consent_channel_address_purpose"),
    )
    op.create_index(op.f("ix_consent_confirm_token_hash"), "consent", ["confirm_token_hash"], unique=False)
    op.create_table(
        "contact_point",
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_point")),
        sa.UniqueConstraint("channel", "address", name="uq_contact_point_channel_address"),
    )
    op.create_table(
        "delivery_receipt",
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("provider_message_id", sa.String(length=100), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_receipt")),
        sa.UniqueConstraint("provider", "provider_message_id", name="uq_delivery_receipt_provider_id"),
    )
    op.create_index(op.f("ix_delivery_receipt_message_id"), "delivery_receipt", ["message_id"], unique=False)
    op.create_table(
        "lead_contact",
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("company", sa.String(length=300), nullable=False),
        sa.Column("emails", postgresql.ARRAY(sa.String(length=320)), nullable=False),
        sa.Column("phones", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("owner_id", sa.String(length=100), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("do_not_email", sa.Boolean(), nullable=False),
        sa.Column("do_not_call", sa.Boolean(), nullable=False),
        sa.Column("do_not_fax", sa.Boolean(), nullable=False),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_lead_contact")),
    )
    op.create_table(
        "message",
        sa.Column("idempotency_key", sa.String(length=300), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("record_service", sa.String(length=40), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=100), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("template_key", sa.String(length=100), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("attachments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("provider_message_ids", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("source_event_id", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_message_idempotency_key")),
    )
    op.create_index(
        "ix_message_due",
        "message",
        ["not_before"],
        unique=False,
        postgresql_where="status IN ('queued','deferred','retrying')",
    )
    op.create_index(op.f("ix_message_recipient"), "message", ["recipient"], unique=False)
    op.create_index(
        "ix_message_sending", "message", ["updated_at"], unique=False, postgresql_where="status = 'sending'"
    )
    op.create_index("ix_message_status_created", "message", ["status", "created_at"], unique=False)
    op.create_index(
        "ix_message_provider_ids", "message", ["provider_message_ids"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "provider",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("rate_per_second", sa.Float(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider")),
        sa.UniqueConstraint("name", name=op.f("uq_provider_name")),
    )
    op.create_index(op.f("ix_provider_channel"), "provider", ["channel"], unique=False)
    op.create_table(
        "rule",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("event_subject", sa.String(length=255), nullable=False),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("template_key", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=True),
        sa.Column("delay_seconds", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule")),
    )
    op.create_index(op.f("ix_rule_event_subject"), "rule", ["event_subject"], unique=False)
    op.create_table(
        "template",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_template")),
        sa.UniqueConstraint("key", "channel", "locale", name="uq_template_key_channel_locale"),
    )
    op.create_index(op.f("ix_template_key"), "template", ["key"], unique=False)
    op.create_table(
        "user_contact",
        sa.Column("user_id", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("fax", sa.String(length=32), nullable=True),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("preferred_channel", sa.String(length=10), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_contact")),
    )
    op.create_table(
        "delivery_attempt",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_delivery_attempt_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempt")),
    )
    op.create_index(op.f("ix_delivery_attempt_message_id"), "delivery_attempt", ["message_id"], unique=False)
    op.create_table(
        "message_status_change",
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_message_status_change_message_id_message"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_status_change")),
    )
    op.create_index(
        op.f("ix_message_status_change_message_id"), "message_status_change", ["message_id"], unique=False
    )
    template = sa.table(
        "template",
        sa.column("id", sa.Uuid()),
        sa.column("key", sa.String()),
        sa.column("channel", sa.String()),
        sa.column("locale", sa.String()),
        sa.column("subject", sa.Text()),
        sa.column("body_text", sa.Text()),
        sa.column("description", sa.String()),
    )
    op.bulk_insert(
        template,
        [
            {
                "id": uuid.uuid5(uuid.NAMESPACE_URL, f"crm-notify-template:{key}:{channel}:{locale}"),
                "key": key,
                "channel": channel,
                "locale": locale,
                "subject": subject,
                "body_text": body,
                "description": "built in",
            }
            for key, channel, locale, subject, body in SEED_TEMPLATES
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_message_status_change_message_id"), table_name="message_status_change")
    op.drop_table("message_status_change")
    op.drop_index(op.f("ix_delivery_attempt_message_id"), table_name="delivery_attempt")
    op.drop_table("delivery_attempt")
    op.drop_table("user_contact")
    op.drop_index(op.f("ix_template_key"), table_name="template")
    op.drop_table("template")
    op.drop_index(op.f("ix_rule_event_subject"), table_name="rule")
    op.drop_table("rule")
    op.drop_index(op.f("ix_provider_channel"), table_name="provider")
    op.drop_table("provider")
    op.drop_index("ix_message_provider_ids", table_name="message")
    op.drop_index("ix_message_status_created", table_name="message")
    op.drop_index("ix_message_sending", table_name="message", postgresql_where="status = 'sending'")
    op.drop_index(op.f("ix_message_recipient"), table_name="message")
    op.drop_index(
        "ix_message_due", table_name="message", postgresql_where="status IN ('queued','deferred','retrying')"
    )
    op.drop_table("message")
    op.drop_table("lead_contact")
    op.drop_index(op.f("ix_delivery_receipt_message_id"), table_name="delivery_receipt")
    op.drop_table("delivery_receipt")
    op.drop_table("contact_point")
    op.drop_index(op.f("ix_consent_confirm_token_hash"), table_name="consent")
    op.drop_table("consent")
