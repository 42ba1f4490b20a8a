from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Locale = Literal["fa", "he", "hu", "en"]
ChannelName = Literal["email", "sms", "fax"]


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    channel: ChannelName
    locale: Locale
    subject: str = Field("", max_length=500)
    body_text: str = Field("", max_length=100_000)
    body_html: str | None = Field(None, max_length=500_000)
    description: str = Field("", max_length=500)

    @model_validator(mode="after")
    def _content(self) -> TemplateIn:
        if not self.body_text and not self.body_html:
            raise ValueError("body_text or body_html is required")
        if self.channel == "email" and not self.subject:
            raise ValueError("an e-mail template needs a subject")
        return self


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    channel: str
    locale: str
    subject: str
    body_text: str
    body_html: str | None
    description: str
    variables: list[str] = []
    created_at: dt.datetime
    updated_at: dt.datetime


class PreviewIn(BaseModel):
    """Preview a stored template (key/channel/locale) or inline content, with sample data."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=100)
    channel: ChannelName = "email"
    locale: Locale = "en"
    subject: str | None = Field(None, max_length=500)
    body_text: str | None = Field(None, max_length=100_000)
    body_html: str | None = Field(None, max_length=500_000)
    data: dict[str, Any] = Field(default_factory=dict)
    timezone: str = Field("UTC", max_length=64)
    purpose: Literal["transactional", "service", "marketing"] = "transactional"


class SmsInfo(BaseModel):
    encoding: str
    segments: int
    units: int


class PreviewOut(BaseModel):
    channel: str
    locale: str
    direction: str
    subject: str
    body_text: str
    body_html: str | None
    sms: SmsInfo | None = None
