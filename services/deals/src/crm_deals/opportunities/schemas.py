from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_deals.fields import Amount, Currency, Day, Text, When

OpenCategory = Literal["pipeline", "best_case", "commit", "omitted"]
Status = Literal["open", "won", "lost"]
ActivityKind = Literal["note", "task", "event", "call", "email"]


class OpportunityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=300)
    organization_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = Field(None, description="default pipeline when empty")
    stage_id: uuid.UUID | None = Field(None, description="first open stage when empty")
    amount: Amount = Decimal("0")
    currency: Currency | None = Field(None, description="ISO 4217; the service default when empty")
    expected_close_date: Day | None = None
    probability: int | None = Field(None, ge=0, le=100, description="the stage's default when empty")
    source: Text = Field("", max_length=100)
    campaign: Text = Field("", max_length=200)
    next_step: Text = Field("", max_length=500)
    owner_id: Text | None = Field(None, min_length=1, max_length=100, description="admins and managers only")

    @model_validator(mode="after")
    def _linked(self) -> OpportunityCreate:
        if self.organization_id is None and self.contact_id is None:
            raise ValueError("an opportunity needs an organization_id or a contact_id")
        return self


class OpportunityUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, min_length=1, max_length=300)
    organization_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    amount: Amount | None = None
    currency: Currency | None = None
    expected_close_date: Day | None = None
    probability: int | None = Field(None, ge=0, le=100, description="open opportunities only")
    forecast_category: OpenCategory | None = Field(None, description="open opportunities only")
    source: Text | None = Field(None, max_length=100)
    campaign: Text | None = Field(None, max_length=200)
    next_step: Text | None = Field(None, max_length=500)
    owner_id: Text | None = Field(None, min_length=1, max_length=100, description="admins and managers only")


class StageMove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage_id: uuid.UUID
    lost_reason: Text | None = Field(
        None, min_length=1, max_length=200, description="required for lost stages"
    )
    reason: Text = Field("", max_length=500)


class SnoozeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: Day = Field(description="no stalled alert before this date (UTC)")
    reason: Text = Field(min_length=1, max_length=500)


class OpportunityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    organization_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    amount: Decimal
    currency: str
    probability: int
    forecast_category: str
    status: str
    expected_close_date: dt.date | None
    owner_id: str | None
    team: str
    source: str
    campaign: str
    lost_reason: str
    next_step: str
    lead_id: uuid.UUID | None
    stage_entered_at: dt.datetime
    closed_at: dt.datetime | None
    snoozed_until: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OpportunityPage(BaseModel):
    items: list[OpportunityOut]
    next_cursor: str | None = None


class StageHistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_stage_id: uuid.UUID | None
    to_stage_id: uuid.UUID
    changed_by: str
    changed_at: dt.datetime
    seconds_in_from_stage: int | None
    reason: str


class SnoozeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    until: dt.date
    reason: str
    snoozed_by: str
    stage_id: uuid.UUID
    created_at: dt.datetime


class ActivityCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ActivityKind
    subject: Text = Field("", max_length=300)
    body: Text = Field("", max_length=20000)
    owner_id: Text | None = Field(
        None, min_length=1, max_length=100, description="the opportunity's owner when empty"
    )
    due_at: When | None = Field(None, description="tasks: required")
    starts_at: When | None = Field(None, description="events: required")
    ends_at: When | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> ActivityCreate:
        if self.kind == "task" and self.due_at is None:
            raise ValueError("a task needs due_at")
        if self.kind == "event" and self.starts_at is None:
            raise ValueError("an event needs starts_at")
        if self.kind != "task" and self.due_at is not None:
            raise ValueError("only tasks have due_at")
        if self.kind != "event" and (self.starts_at is not None or self.ends_at is not None):
            raise ValueError("only events have starts_at and ends_at")
        if self.ends_at is not None and self.starts_at is not None and self.ends_at < self.starts_at:
            raise ValueError("ends_at must not be before starts_at")
        if not (self.subject.strip() or self.body.strip()):
            raise ValueError("an activity needs a subject or a body")
        return self


class ActivityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    opportunity_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    kind: str
    subject: str
    body: str
    owner_id: str | None
    due_at: dt.datetime | None
    done_at: dt.datetime | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    created_by: str
    source_ref: str | None
    created_at: dt.datetime
