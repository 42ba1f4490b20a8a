from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm_platform.db import utcnow
from sqlalchemy import Boolean, DateTime, String
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from crm_notify.db import Base


class UserContact(Base):
    """How to reach a CRM user (a rep or manager): maintained over REST, since leads only emits user ids."""

    __tablename__ = "user_contact"

    user_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    fax: Mapped[str | None] = mapped_column(String(32))
    locale: Mapped[str] = mapped_column(String(5), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    preferred_channel: Mapped[str | None] = mapped_column(String(10))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class LeadContact(Base):
    """notify's projection of a lead's contact points, fed by crm.leads.lead.{created,updated,merged}."""

    __tablename__ = "lead_contact"

    lead_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(400), default="")
    company: Mapped[str] = mapped_column(String(300), default="")
    emails: Mapped[list[str]] = mapped_column(ARRAY(String(320)), default=list)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    owner_id: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str] = mapped_column(String(2), default="")
    status: Mapped[str] = mapped_column(String(40), default="")
    do_not_email: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_fax: Mapped[bool] = mapped_column(Boolean, default=False)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # occurred_at of the event the row was built from: an older event never overwrites a newer one
    as_of: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
