from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from crm_platform.contact_points import PhoneIn, PhoneOut
from pydantic import BaseModel, ConfigDict, Field

Rating = Literal["", "hot", "warm", "cold"]


class LeadFields(BaseModel):
    """Fields a client may set on a lead (create and update share them)."""

    model_config = ConfigDict(extra="forbid")

    first_name: str = Field("", max_length=200)
    last_name: str = Field("", max_length=200)
    company: str = Field("", max_length=300)
    title: str = Field("", max_length=200)
    emails: list[str] = Field(default_factory=list, max_length=10)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    national_id: str = Field("", max_length=64)
    messenger_id: str = Field("", max_length=200)
    website: str = Field("", max_length=500)
    street: str = Field("", max_length=500)
    city: str = Field("", max_length=200)
    region: str = Field("", max_length=200)
    postal_code: str = Field("", max_length=32)
    country: str = Field("", max_length=2, description="ISO 3166-1 alpha-2")
    industry: str = Field("", max_length=200)
    annual_revenue: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=2)
    employee_count: int | None = Field(None, ge=0, le=10_000_000)
    source: str = Field("", max_length=100)
    campaign: str = Field("", max_length=200)
    rating: Rating = ""
    description: str = Field("", max_length=20000)
    do_not_email: bool = False
    do_not_call: bool = False
    do_not_fax: bool = False
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class LeadCreate(LeadFields):
    default_region: str | None = Field(None, min_length=2, max_length=2, description="e.g. IR, IL, HU")


class LeadUpdate(BaseModel):
    """Partial update: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    first_name: str | None = Field(None, max_length=200)
    last_name: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=300)
    title: str | None = Field(None, max_length=200)
    emails: list[str] | None = Field(None, max_length=10)
    phones: list[PhoneIn] | None = Field(None, max_length=10)
    national_id: str | None = Field(None, max_length=64)
    messenger_id: str | None = Field(None, max_length=200)
    website: str | None = Field(None, max_length=500)
    street: str | None = Field(None, max_length=500)
    city: str | None = Field(None, max_length=200)
    region: str | None = Field(None, max_length=200)
    postal_code: str | None = Field(None, max_length=32)
    country: str | None = Field(None, max_length=2)
    industry: str | None = Field(None, max_length=200)
    annual_revenue: Decimal | None = Field(None, ge=0, max_digits=18, decimal_places=2)
    employee_count: int | None = Field(None, ge=0, le=10_000_000)
    source: str | None = Field(None, max_length=100)
    campaign: str | None = Field(None, max_length=200)
    rating: Rating | None = None
    description: str | None = Field(None, max_length=20000)
    do_not_email: bool | None = None
    do_not_call: bool | None = None
    do_not_fax: bool | None = None
    qualified: bool | None = None
    custom_fields: dict[str, Any] | None = None
    default_region: str | None = Field(None, min_length=2, max_length=2)


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    first_name: str
    last_name: str
    company: str
    title: str
    emails: list[str]
    phones: list[PhoneOut]
    national_id: str
    messenger_id: str
    website: str
    street: str
    city: str
    region: str
    postal_code: str
    country: str
    industry: str
    annual_revenue: Decimal | None
    employee_count: int | None
    source: str
    campaign: str
    intake_channel: str
    status: str
    status_changed_at: dt.datetime
    rating: str
    qualified: bool
    owner_id: str | None
    team: str
    assigned_at: dt.datetime | None
    first_touch_at: dt.datetime | None
    last_contact_at: dt.datetime | None
    description: str
    do_not_email: bool
    do_not_call: bool
    do_not_fax: bool
    custom_fields: dict[str, Any]
    score: int | None
    merged_into_id: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class LeadBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leads: list[LeadCreate] = Field(min_length=1, max_length=1000)


class LeadBatchOut(BaseModel):
    leads: list[LeadOut]


class LeadPage(BaseModel):
    items: list[LeadOut]
    next_cursor: str | None = None


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: str = Field(min_length=1, max_length=40)
    reason: str = Field("", max_length=500)


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other_id: uuid.UUID = Field(description="the lead merged into this one; it is kept as 'merged'")


class DuplicateOut(BaseModel):
    lead_id: uuid.UUID
    duplicate_of_id: uuid.UUID
    matched_on: list[str]
    created_at: dt.datetime


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    actor: str
    action: str
    changes: dict[str, Any]
    at: dt.datetime


class CustomFieldDefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=200)
    type: Literal["text", "number", "boolean", "date", "choice"]
    choices: list[str] = Field(default_factory=list, max_length=200)
    required: bool = False


class CustomFieldDefOut(CustomFieldDefIn):
    model_config = ConfigDict(from_attributes=True)
