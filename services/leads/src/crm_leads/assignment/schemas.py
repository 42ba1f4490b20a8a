from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Strategy = Literal["round_robin", "least_loaded", "weighted"]


class RepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    display_name: str = Field("", max_length=200)
    email: str = Field("", max_length=320)
    team: str = Field("", max_length=100)
    active: bool = True
    weight: int = Field(1, ge=0, le=1000)
    max_open_leads: int | None = Field(None, ge=0, le=1_000_000, description="open leads cap; empty = no cap")
    timezone: str = Field("UTC", max_length=64)
    working_hours: dict[str, list[list[str]]] = Field(
        default_factory=dict, description='{"mon": [["09:00", "17:00"]], ...}; empty = always working'
    )
    vacation_from: dt.date | None = None
    vacation_until: dt.date | None = None


class RepOut(RepIn):
    model_config = ConfigDict(from_attributes=True)
    id: str


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    field: str = Field(max_length=80)
    op: str = Field("eq", max_length=10)
    value: Any = None


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    position: int = Field(100, ge=0, le=1_000_000)
    active: bool = True
    conditions: list[Condition] = Field(default_factory=list, max_length=50)
    strategy: Strategy = "round_robin"
    rep_ids: list[str] = Field(min_length=1, max_length=500)
    followup_minutes: int = Field(60, ge=0, le=60 * 24 * 30)


class RuleOut(RuleIn):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    created_at: dt.datetime


class AssignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    owner_id: str | None = Field(None, max_length=100, description="empty: run the assignment rules again")
    reason: str = Field("", max_length=500)


class DecisionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    lead_id: uuid.UUID
    rule_id: uuid.UUID | None
    strategy: str
    candidates: list[dict[str, Any]]
    chosen_rep_id: str | None
    reason: str
    actor: str
    created_at: dt.datetime
