from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class UserContactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: str = Field("", max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    fax: str | None = Field(None, max_length=40)
    locale: Literal["fa", "he", "hu", "en"] = "en"
    timezone: str = Field("UTC", max_length=64)
    preferred_channel: Literal["email", "sms", "fax"] | None = None


class UserContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: str
    display_name: str
    email: str | None
    phone: str | None
    fax: str | None
    locale: str
    timezone: str
    preferred_channel: str | None
    updated_at: dt.datetime


class LeadContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    lead_id: uuid.UUID
    name: str
    company: str
    emails: list[str]
    phones: list[dict[str, Any]]
    owner_id: str | None
    country: str
    status: str
    do_not_email: bool
    do_not_call: bool
    do_not_fax: bool
    merged_into_id: uuid.UUID | None
    as_of: dt.datetime
