from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_platform.db import IdMixin, TimestampMixin, utcnow
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from crm_notify.db import Base

STATUSES = (
    "queued",
    "deferred",
    "sending",
    "retrying",
    "sent",
    "delivered",
    "failed",
    "dead",
    "suppressed",
)
DISPATCHABLE = ("queued", "deferred", "retrying")
FINAL = ("delivered", "failed", "dead", "suppressed")


class Message(IdMixin, TimestampMixin, Base):
    """One notification to one address on one channel, with its content rendered at request time."""

    __tablename__ = "message"
    __table_args__ = (
        Index("ix_message_due", "not_before", postgresql_where="status IN ('queued','deferred','retrying')"),
        Index("ix_message_sending", "updated_at", postgresql_where="status = 'sending'"),
        Index("ix_message_status_created", "status", "created_at"),
        # no pending list: receipts look messages up as fast as sends add ids (migration 0003)
        Index(
            "ix_message_provider_ids",
            "provider_message_ids",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
    )

    idempotency_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64), default="")
    channel: Mapped[str] = mapped_column(String(10))
    purpose: Mapped[str] = mapped_column(String(20), default="transactional")
    recipient: Mapped[str] = mapped_column(String(320), index=True)
    record_service: Mapped[str] = mapped_column(String(40), default="")
    record_type: Mapped[str] = mapped_column(String(40), default="")
    record_id: Mapped[str] = mapped_column(String(100), default="")
    locale: Mapped[str] = mapped_column(String(5), default="en")
    template_key: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str | None] = mapped_column(String(100))
    provider_message_ids: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    segments: Mapped[int] = mapped_column(Integer, default=1)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    source_event_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class MessageStatusChange(IdMixin, Base):
    """Status history of a message: every transition with its reason and provider code."""

    __tablename__ = "message_status_change"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    provider: Mapped[str | None] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(40), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeliveryAttempt(IdMixin, Base):
    """One try of one provider for one message."""

    __tablename__ = "delivery_attempt"

    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(20))  # accepted | transient | permanent
    code: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DeliveryReceipt(IdMixin, Base):
    """A delivery report from a provider (SMPP DLR, HTTP callback, fax job status) for one provider id."""

    __tablename__ = "delivery_receipt"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id", name="uq_delivery_receipt_provider_id"),
    )

    provider: Mapped[str] = mapped_column(String(100))
    provider_message_id: Mapped[str] = mapped_column(String(100))
    message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    status: Mapped[str] = mapped_column(String(20))  # delivered | undeliverable
    code: Mapped[str] = mapped_column(String(40), default="")
    raw: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
