"""REST shapes of intake: lead sources, the public submission answer, import jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SourceKind = Literal["web_form", "landing_page", "social_form", "email"]
ImportStatus = Literal["queued", "running", "completed", "failed"]


class LeadSourceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    kind: SourceKind = "web_form"
    allowed_origins: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Browser origins (scheme://host[:port]) allowed to post; '*' allows any origin. "
        "Empty: server-to-server only (any request carrying an Origin header is refused).",
    )
    field_whitelist: list[str] | None = Field(
        None,
        max_length=100,
        description="Intake field names accepted from this source (others are ignored); "
        "'custom.<key>' or 'custom.*' for custom fields. Default: a contact form's fields.",
    )
    default_region: str = Field(
        "", max_length=2, description="Region for phones without a country code, e.g. IR, IL, HU"
    )
    campaign: str = Field("", max_length=200)
    rate_limit_per_minute: int = Field(600, ge=1, le=1_000_000)
    active: bool = True


class LeadSourceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    kind: SourceKind | None = None
    allowed_origins: list[str] | None = Field(None, max_length=50)
    field_whitelist: list[str] | None = Field(None, max_length=100)
    default_region: str | None = Field(None, max_length=2)
    campaign: str | None = Field(None, max_length=200)
    rate_limit_per_minute: int | None = Field(None, ge=1, le=1_000_000)
    active: bool | None = None


class LeadSourceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str
    key_prefix: str = Field(description="The first characters of the API key, to tell keys apart")
    allowed_origins: list[str]
    field_whitelist: list[str]
    default_region: str
    campaign: str
    rate_limit_per_minute: int
    active: bool
    created_at: dt.datetime


class LeadSourceWithKey(LeadSourceOut):
    api_key: str = Field(description="Shown once; only its hash is stored. Rotate it if lost.")
    intake_path: str = Field(description="Where the form posts: POST <intake_path>")


class LeadSourceList(BaseModel):
    items: list[LeadSourceOut]


class IntakeAccepted(BaseModel):
    idempotency_key: str
    lead_id: uuid.UUID
    status: Literal["accepted"] = "accepted"
    replayed: bool = Field(False, description="True when this key was seen before: no new lead was made")
    ignored_fields: list[str] = Field(
        default_factory=list, description="Submitted fields this source does not accept (not stored)"
    )


class ImportRowError(BaseModel):
    row: int | None = Field(description="1-based line number in the file (the header is line 1)")
    errors: dict[str, str] = Field(description="column (as in the file) -> reason")


class ImportJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    status: ImportStatus
    filename: str
    source: str
    default_region: str
    total: int
    processed: int
    imported: int
    failed: int
    errors: list[ImportRowError] = Field(default_factory=list)
    errors_truncated: bool = Field(False, description="More errors than listed; see errors.csv")
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class ImportAccepted(ImportJobOut):
    columns: dict[str, str] = Field(default_factory=dict, description="file column -> lead field")
    ignored_columns: list[str] = Field(default_factory=list, description="columns not imported")


class ImportJobList(BaseModel):
    items: list[ImportJobOut]
