"""REST shapes of lead conversion."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Annotated, Literal

from crm_platform.fields import storable_text
from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _currency(value: str) -> str:
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError("must be an ISO 4217 code such as EUR, IRR, ILS or HUF")
    return code


def _day(value: dt.date) -> dt.date:
    if not dt.date(1970, 1, 1) <= value < dt.date(2200, 1, 1):
        raise ValueError("must be between 1970 and 2200")
    return value


Text = Annotated[str, AfterValidator(storable_text)]
Currency = Annotated[str, Field(min_length=3, max_length=3), AfterValidator(_currency)]
Day = Annotated[dt.date, AfterValidator(_day)]


class ConversionOptions(BaseModel):
    """All optional: without them the preview's plan is carried out."""

    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = Field(None, description="reuse this organization")
    contact_id: uuid.UUID | None = Field(None, description="reuse this contact")
    skip_organization: bool = Field(False, description="B2C: a contact without an organization")
    opportunity_name: Text = Field("", max_length=300)
    amount: Decimal | None = Field(None, ge=0, le=Decimal("100000000000000"), max_digits=17, decimal_places=2)
    currency: Currency | None = None
    expected_close_date: Day | None = None
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    next_step: Text = Field("", max_length=500)


class CandidateOut(BaseModel):
    id: uuid.UUID
    name: str
    matched_on: list[str]


class RecordPlanOut(BaseModel):
    action: Literal["create", "reuse", "skip"]
    id: uuid.UUID | None
    name: str
    matched_on: list[str]
    filled_fields: list[str] = Field(description="empty fields the lead fills in; nothing is overwritten")
    candidates: list[CandidateOut]


class OpportunityPlanOut(BaseModel):
    name: str
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID
    stage_name: str
    probability: int
    amount: Decimal
    currency: str
    expected_close_date: dt.date | None
    owner_id: str | None


class PreviewOut(BaseModel):
    organization: RecordPlanOut
    contact: RecordPlanOut
    opportunity: OpportunityPlanOut
    activities_to_move: int


class ConversionOut(BaseModel):
    id: uuid.UUID
    lead_id: uuid.UUID
    state: Literal["pending", "failed", "completed"]
    attempts: int
    failure_reason: str
    requested_by: str
    organization_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    opportunity_id: uuid.UUID | None
    organization_created: bool
    contact_created: bool
    moved_activity_ids: list[uuid.UUID]
    completed_at: dt.datetime | None
    created_at: dt.datetime
