from __future__ import annotations

from typing import Any

from crm_platform.db import IdMixin, TimestampMixin
from sqlalchemy import Boolean, Float, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_notify.db import Base

KINDS = {
    "smtp": "email",
    "smpp": "sms",
    "http_sms": "sms",
    "hylafax": "fax",
    "http_fax": "fax",
}


class Provider(IdMixin, TimestampMixin, Base):
    """A delivery provider of one channel; the lowest ``priority`` is tried first, the next is the fallback."""  # noqa: E501

    __tablename__ = "provider"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    channel: Mapped[str] = mapped_column(String(10), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    priority: Mapped[int] = mapped_column(Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Messages (SMS: segments) per second across all workers; None = unlimited.
    rate_per_second: Mapped[float | None] = mapped_column(Float)
