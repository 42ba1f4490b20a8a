"""Inputs and plans of lead conversion (the gRPC edge converts protos to these)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from crm_deals.opportunities.models import Opportunity
from crm_deals.organizations.models import Contact, Organization
from crm_deals.pipelines.models import Pipeline, Stage


@dataclass
class LeadIn:
    lead_id: uuid.UUID
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[dict[str, str]] = field(default_factory=list)  # {"e164", "kind"}
    website: str = ""
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""
    industry: str = ""
    source: str = ""
    campaign: str = ""
    owner_id: str = ""
    team: str = ""
    description: str = ""

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass
class ActivityIn:
    id: uuid.UUID
    kind: str
    subject: str = ""
    body: str = ""
    owner_id: str = ""
    due_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    created_at: dt.datetime | None = None
    created_by: str = ""


@dataclass
class OptionsIn:
    organization_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    skip_organization: bool = False
    opportunity_name: str = ""
    amount: Decimal | None = None
    currency: str = ""
    expected_close_date: dt.date | None = None
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    next_step: str = ""


@dataclass
class Candidate:
    id: uuid.UUID
    name: str
    matched_on: list[str]


@dataclass
class RecordPlan:
    """create / reuse / skip, with what matched, what the lead would fill in and every candidate."""

    action: str
    record: Organization | Contact | None = None
    matched_on: list[str] = field(default_factory=list)
    filled_fields: list[str] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    organization: RecordPlan
    contact: RecordPlan
    pipeline: Pipeline
    stage: Stage
    opportunity_name: str
    amount: Decimal
    currency: str
    expected_close_date: dt.date | None
    owner_id: str | None
    team: str


@dataclass
class Result:
    conversion_id: uuid.UUID
    lead_id: uuid.UUID
    organization_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    organization_created: bool
    contact_created: bool
    moved_activities: list[dict[str, str]]
    replayed: bool = False
    opportunity: Opportunity | None = None
