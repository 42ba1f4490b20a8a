from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Purpose = Literal["transactional", "service", "marketing"]
ChannelName = Literal["email", "sms", "fax"]


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", max_length=64)
    quiet_start: dt.time | None = None
    quiet_end: dt.time | None = None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value


class ConsentIn(BaseModel):
    """Set consent directly: opted_out always; opted_in for marketing only with a recorded source."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["opted_in", "opted_out"]
    source: str = Field("", max_length=100)
    reason: str = Field("", max_length=1000)


class ConsentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    channel: str
    address: str
    purpose: str
    status: str
    source: str
    reason: str
    requested_at: dt.datetime | None
    confirmed_at: dt.datetime | None
    updated_at: dt.datetime


class ContactPointOut(BaseModel):
    channel: str
    address: str
    timezone: str
    quiet_start: dt.time | None
    quiet_end: dt.time | None
    consents: list[ConsentOut]


class OptInRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: Literal["fa", "he", "hu", "en"] = "en"
    source: str = Field("", max_length=100)


class OptInRequestOut(BaseModel):
    status: str
    confirmation_message_id: str
