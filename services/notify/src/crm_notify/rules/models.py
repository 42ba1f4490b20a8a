from __future__ import annotations

from typing import Any

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import Boolean, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_notify.db import Base


class Rule(IdMixin, TimestampMixin, Base):
    """Data, not code: when an event on ``event_subject`` matches every condition, send ``template_key``
    on ``channel`` to ``recipient`` ("owner", "previous_owner", "lead", "user:<id>" or an address)
    after ``delay_seconds``."""

    __tablename__ = "rule"

    name: Mapped[str] = mapped_column(String(200))
    event_subject: Mapped[str] = mapped_column(String(255), index=True)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    template_key: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    recipient: Mapped[str] = mapped_column(String(320))
    purpose: Mapped[str] = mapped_column(String(20), default="service")
    locale: Mapped[str | None] = mapped_column(String(5))
    delay_seconds: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
