from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PhoneKindName = Literal["work", "mobile", "home", "fax"]


class PhoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str = Field(min_length=1, max_length=40)
    kind: PhoneKindName = "work"


class PhoneOut(BaseModel):
    e164: str
    kind: PhoneKindName


class LeadCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: str = Field("", max_length=200)
    last_name: str = Field("", max_length=200)
    company: str = Field("", max_length=300)
    title: str = Field("", max_length=200)
    emails: list[str] = Field(default_factory=list, max_length=10)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    source: str = Field("", max_length=100)
    description: str = Field("", max_length=20000)
    default_region: str | None = Field(None, min_length=2, max_length=2, description="e.g. IR, IL, HU")


class LeadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    first_name: str
    last_name: str
    company: str
    title: str
    emails: list[str]
    phones: list[PhoneOut]
    source: str
    status: str
    owner_id: str | None
    team: str
    description: str
    score: int | None
    created_at: dt.datetime


class LeadBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leads: list[LeadCreate] = Field(min_length=1, max_length=1000)


class LeadBatchOut(BaseModel):
    leads: list[LeadOut]
