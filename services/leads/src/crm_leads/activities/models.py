from __future__ import annotations

import datetime as dt
import uuid

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_leads.db import Base
from crm_leads.leads.models import lead_fk

KINDS = ("note", "task", "event", "call", "email")


class Activity(IdMixin, TimestampMixin, Base):
    """A note, task, calendar event, logged call or logged e-mail on a lead."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_owner_open", "owner_id", "due_at", postgresql_where="done_at IS NULL"),
        Index("ix_activity_reminder_due", "remind_at", postgresql_where="reminder_sent_at IS NULL"),
    )

    lead_id: Mapped[uuid.UUID] = mapped_column(lead_fk(), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    starts_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    remind_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reminder_sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    call_direction: Mapped[str] = mapped_column(String(10), default="")
    call_outcome: Mapped[str] = mapped_column(String(40), default="")
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    is_first_followup: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(100), default="")
