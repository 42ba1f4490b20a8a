from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_platform.db import IdMixin, utcnow
from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from crm_leads.db import Base


class LeadSource(IdMixin, Base):
    """A public intake point (web form, landing page, social form) with its own API key."""

    __tablename__ = "lead_source"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="web_form")
    api_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(12), default="")
    allowed_origins: Mapped[list[str]] = mapped_column(ARRAY(String(300)), default=list)
    field_whitelist: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    default_region: Mapped[str] = mapped_column(String(2), default="")
    campaign: Mapped[str] = mapped_column(String(200), default="")
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer, default=600)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IntakeSubmission(Base):
    """One accepted submission per (source, idempotency key): a resubmitted form never makes a second lead."""

    __tablename__ = "intake_submission"

    source_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ImportJob(IdMixin, Base):
    """A CSV import run by a Celery task, with progress and per-row errors."""

    __tablename__ = "import_job"

    status: Mapped[str] = mapped_column(String(20), default="queued")
    filename: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(100), default="csv")
    default_region: Mapped[str] = mapped_column(String(2), default="")
    content: Mapped[str] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    team: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
