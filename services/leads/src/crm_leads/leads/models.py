from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from crm_platform.db import IdMixin, TimestampMixin, utcnow
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import Uuid

from crm_leads.db import Base

OPEN_STATUSES = (
    "new",
    "waiting_for_contact",
    "in_progress",
    "contact_in_future",
    "serious_prospect",
    "qualified",
)
CLOSED_STATUSES = ("lost", "forgotten", "junk", "converted", "merged")

# The lead's plain (non-contact) fields a client sets, one list for the API, intake forms and merges.
TEXT_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "title",
    "national_id",
    "messenger_id",
    "website",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "industry",
    "source",
    "campaign",
    "rating",
    "description",
)
NUMBER_FIELDS = ("annual_revenue", "employee_count")
FLAG_FIELDS = ("do_not_email", "do_not_call", "do_not_fax")


def lead_fk() -> ForeignKey:
    """A reference to a lead: deleted with it, checked at the end of each statement (a create writes
    a lead and the rows pointing at it in one statement: crm_platform.db.coalesced_inserts). DEFERRABLE
    since migration 0005, for a transaction that needs to write them in several statements."""
    return ForeignKey("lead.id", ondelete="CASCADE", deferrable=True, initially="IMMEDIATE")


class Lead(IdMixin, TimestampMixin, Base):
    __tablename__ = "lead"
    __table_args__ = (
        # no pending list: every create probes these right after other creates (migration 0006)
        Index("ix_lead_emails", "emails", postgresql_using="gin", postgresql_with={"fastupdate": "off"}),
        Index(
            "ix_lead_phone_numbers",
            "phone_numbers",
            postgresql_using="gin",
            postgresql_with={"fastupdate": "off"},
        ),
        Index("ix_lead_company_key", "company_key"),
    )

    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    company: Mapped[str] = mapped_column(String(300), default="")
    company_key: Mapped[str] = mapped_column(String(300), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    emails: Mapped[list[str]] = mapped_column(ARRAY(String(320)), default=list)
    phones: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    phone_numbers: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    national_id: Mapped[str] = mapped_column(String(64), default="")
    messenger_id: Mapped[str] = mapped_column(String(200), default="")
    website: Mapped[str] = mapped_column(String(500), default="")
    street: Mapped[str] = mapped_column(String(500), default="")
    city: Mapped[str] = mapped_column(String(200), default="")
    region: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(32), default="")
    country: Mapped[str] = mapped_column(String(2), default="")
    industry: Mapped[str] = mapped_column(String(200), default="")
    annual_revenue: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    employee_count: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(100), default="")
    source_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    intake_channel: Mapped[str] = mapped_column(String(20), default="api")
    campaign: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(40), default="new", index=True)
    status_changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rating: Mapped[str] = mapped_column(String(20), default="")
    qualified: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[str | None] = mapped_column(String(100), index=True)
    team: Mapped[str] = mapped_column(String(100), default="")
    assigned_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    first_touch_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_contact_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    description: Mapped[str] = mapped_column(Text, default="")
    do_not_email: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_call: Mapped[bool] = mapped_column(Boolean, default=False)
    do_not_fax: Mapped[bool] = mapped_column(Boolean, default=False)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    score: Mapped[int | None] = mapped_column(Integer)
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    converted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class LeadAudit(IdMixin, Base):
    """One row per change to a lead: who, when, what (field -> [old, new])."""

    __tablename__ = "lead_audit"

    lead_id: Mapped[uuid.UUID] = mapped_column(lead_fk(), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LeadDuplicate(Base):
    """A link from a lead to an earlier lead it matches (never dropped, merged only on request)."""

    __tablename__ = "lead_duplicate"

    lead_id: Mapped[uuid.UUID] = mapped_column(lead_fk(), primary_key=True)
    duplicate_of_id: Mapped[uuid.UUID] = mapped_column(lead_fk(), primary_key=True, index=True)
    matched_on: Mapped[list[str]] = mapped_column(ARRAY(String(20)))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CustomFieldDef(Base):
    """Admin-defined custom lead field; values live in lead.custom_fields and are validated against it."""

    __tablename__ = "custom_field_def"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))  # text | number | boolean | date | choice
    choices: Mapped[list[str]] = mapped_column(JSONB, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
