from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from crm_platform.contact_points import PhoneIn, PhoneOut
from pydantic import BaseModel, ConfigDict, Field

from crm_deals.fields import Text

Region = Annotated[
    str | None, Field(min_length=2, max_length=2, description="region for national numbers, e.g. IR, IL, HU")
]


class AddressFields(BaseModel):
    street: Text = Field("", max_length=500)
    city: Text = Field("", max_length=200)
    region: Text = Field("", max_length=200)
    postal_code: Text = Field("", max_length=32)
    country: Text = Field("", max_length=2, description="ISO 3166-1 alpha-2")


class OrganizationCreate(AddressFields):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=300)
    domain: Text = Field("", max_length=300, description="web site or domain, e.g. acme.com")
    emails: list[Text] = Field(default_factory=list, max_length=10)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10, description="fax numbers: kind fax")
    industry: Text = Field("", max_length=200)
    description: Text = Field("", max_length=20000)
    default_region: Region = None


class OrganizationUpdate(BaseModel):
    """Partial update: only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = Field(None, min_length=1, max_length=300)
    domain: Text | None = Field(None, max_length=300)
    emails: list[Text] | None = Field(None, max_length=10)
    phones: list[PhoneIn] | None = Field(None, max_length=10)
    street: Text | None = Field(None, max_length=500)
    city: Text | None = Field(None, max_length=200)
    region: Text | None = Field(None, max_length=200)
    postal_code: Text | None = Field(None, max_length=32)
    country: Text | None = Field(None, max_length=2)
    industry: Text | None = Field(None, max_length=200)
    description: Text | None = Field(None, max_length=20000)
    owner_id: Text | None = Field(None, max_length=100, description="admins and managers only")
    default_region: Region = None


class DuplicateOut(BaseModel):
    id: uuid.UUID
    name: str
    matched_on: list[str]


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    domain: str
    emails: list[str]
    phones: list[PhoneOut]
    street: str
    city: str
    region: str
    postal_code: str
    country: str
    industry: str
    description: str
    owner_id: str | None
    team: str
    buyer_status: str
    paid_invoices: int
    created_at: dt.datetime
    updated_at: dt.datetime
    duplicates: list[DuplicateOut] = Field(
        default_factory=list, description="existing organizations this one may duplicate (never blocked)"
    )


class OrganizationPage(BaseModel):
    items: list[OrganizationOut]
    next_cursor: str | None = None


class ContactCreate(AddressFields):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = None
    first_name: Text = Field("", max_length=200)
    last_name: Text = Field("", max_length=200)
    title: Text = Field("", max_length=200)
    emails: list[Text] = Field(default_factory=list, max_length=10)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    default_region: Region = None


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = None
    first_name: Text | None = Field(None, max_length=200)
    last_name: Text | None = Field(None, max_length=200)
    title: Text | None = Field(None, max_length=200)
    emails: list[Text] | None = Field(None, max_length=10)
    phones: list[PhoneIn] | None = Field(None, max_length=10)
    street: Text | None = Field(None, max_length=500)
    city: Text | None = Field(None, max_length=200)
    region: Text | None = Field(None, max_length=200)
    postal_code: Text | None = Field(None, max_length=32)
    country: Text | None = Field(None, max_length=2)
    owner_id: Text | None = Field(None, max_length=100, description="admins and managers only")
    default_region: Region = None


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID | None
    first_name: str
    last_name: str
    title: str
    emails: list[str]
    phones: list[PhoneOut]
    street: str
    city: str
    region: str
    postal_code: str
    country: str
    owner_id: str | None
    team: str
    buyer_status: str
    paid_invoices: int
    created_at: dt.datetime
    updated_at: dt.datetime
    duplicates: list[DuplicateOut] = Field(default_factory=list)


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None = None
