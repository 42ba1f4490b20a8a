from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from crm_platform.contact_points import PhoneIn, PhoneOut
from pydantic import BaseModel, ConfigDict, Field

Region = Annotated[
    str | None, Field(min_length=2, max_length=2, description="region for national numbers, e.g. IR, IL, HU")
]


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    domain: str = Field("", max_length=300, description="web site or domain, e.g. acme.com")
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    default_region: Region = None


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    domain: str
    phones: list[PhoneOut]
    owner_id: str | None
    team: str
    created_at: dt.datetime


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = None
    first_name: str = Field("", max_length=200)
    last_name: str = Field("", max_length=200)
    emails: list[str] = Field(default_factory=list, max_length=10)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    default_region: Region = None


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID | None
    first_name: str
    last_name: str
    emails: list[str]
    phones: list[PhoneOut]
    owner_id: str | None
    team: str
    created_at: dt.datetime
