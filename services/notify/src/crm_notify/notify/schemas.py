from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ObservedEventIn(BaseModel):
    """What a handler learnt from one consumed event."""

    event_id: str = Field(min_length=1, max_length=64)
    subject: str = Field(min_length=1, max_length=255)
    aggregate_id: str = Field("", max_length=64)
    summary: dict[str, Any] = Field(default_factory=dict)
    occurred_at: dt.datetime | None = None


class ObservedEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: str
    subject: str
    aggregate_id: str
    summary: dict[str, Any]
    occurred_at: dt.datetime | None
    received_at: dt.datetime


class ObservedEventList(BaseModel):
    items: list[ObservedEventOut]
