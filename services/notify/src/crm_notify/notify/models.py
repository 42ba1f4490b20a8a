from __future__ import annotations

import datetime as dt
from typing import Any

from crm_platform.db import IdMixin, utcnow
from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_notify.db import Base


class ObservedEvent(IdMixin, Base):
    """One integration event another service published and notify consumed (its first real input)."""

    __tablename__ = "observed_event"

    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(255), index=True)
    aggregate_id: Mapped[str] = mapped_column(String(64), default="")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now(), index=True
    )
