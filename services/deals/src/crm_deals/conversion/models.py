from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_platform.db import utcnow
from sqlalchemy import Boolean, DateTime, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from crm_deals.db import Base


class LeadConversion(Base):
    """The result of one lead conversion, keyed by the conversion id leads sends: a retry returns it.
    One per lead: a second conversion of the same lead with another id is refused."""

    __tablename__ = "lead_conversion"
    __table_args__ = (UniqueConstraint("lead_id", name="uq_lead_conversion_lead_id"),)

    conversion_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column()
    organization_id: Mapped[uuid.UUID | None] = mapped_column()
    contact_id: Mapped[uuid.UUID | None] = mapped_column()
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column()
    organization_created: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_created: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_activities: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    actor_id: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
