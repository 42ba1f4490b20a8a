from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Operator = Literal["eq", "ne", "in", "not_in", "exists", "not_exists", "gt", "gte", "lt", "lte", "contains"]


class Condition(BaseModel):
    """``field`` is a dotted path into the event (proto field names), e.g. ``new_status`` or ``lead.country``.
    Enum fields compare by their short lower-case name: ``new_status == "serious_prospect"``."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=200, pattern=r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$")
    op: Operator = "eq"
    value: Any = None


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    event_subject: str = Field(min_length=1, max_length=255)
    conditions: list[Condition] = Field(default_factory=list, max_length=50)
    template_key: str = Field(min_length=1, max_length=100)
    channel: Literal["email", "sms", "fax", "preferred"] = "email"
    recipient: str = Field(
        min_length=1,
        max_length=320,
        description='"owner", "previous_owner", "lead", "user:<id>", or a literal address',
    )
    purpose: Literal["transactional", "service", "marketing"] = "service"
    locale: Literal["fa", "he", "hu", "en"] | None = None
    delay_seconds: int = Field(0, ge=0, le=90 * 24 * 3600)
    enabled: bool = True


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    event_subject: str
    conditions: list[dict[str, Any]]
    template_key: str
    channel: str
    recipient: str
    purpose: str
    locale: str | None
    delay_seconds: int
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime
