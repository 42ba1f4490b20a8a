from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ChannelName = Literal["email", "sms", "fax", "preferred"]
Purpose = Literal["transactional", "service", "marketing"]
Locale = Literal["fa", "he", "hu", "en"]


class AttachmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2000)
    filename: str = Field("", max_length=200)
    content_type: str = Field("", max_length=100)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value


class RecordRefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(min_length=1, max_length=40)
    record_type: str = Field(min_length=1, max_length=40)
    id: str = Field(min_length=1, max_length=100)


class SendIn(BaseModel):
    """One notification: to an address or a CRM record, from a template (+ data) or raw content."""

    model_config = ConfigDict(extra="forbid")

    recipient: str | None = Field(None, min_length=1, max_length=320)
    record: RecordRefIn | None = None
    channel: ChannelName = "preferred"
    purpose: Purpose = "transactional"
    template: str | None = Field(None, min_length=1, max_length=100)
    locale: Locale | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    subject: str | None = Field(None, max_length=500)
    body_text: str | None = Field(None, max_length=100_000)
    body_html: str | None = Field(None, max_length=500_000)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=10)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _shape(self) -> SendIn:
        if (self.recipient is None) == (self.record is None):
            raise ValueError("give exactly one of recipient or record")
        if self.template is None and not (self.body_text or self.body_html):
            raise ValueError("give a template or raw content (body_text / body_html)")
        return self


class SendOut(BaseModel):
    id: uuid.UUID
    status: str
    duplicate: bool = False


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    purpose: str
    recipient: str
    record_service: str
    record_type: str
    record_id: str
    locale: str
    template_key: str | None
    subject: str
    status: str
    status_reason: str
    provider: str | None
    provider_message_ids: list[str]
    segments: int
    attempts: int
    not_before: dt.datetime
    rule_id: uuid.UUID | None
    source_event_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    delivered_at: dt.datetime | None


class MessagePage(BaseModel):
    items: list[MessageOut]


class StatusChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: str
    detail: str
    provider: str | None
    code: str
    at: dt.datetime


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    provider: str
    outcome: str
    code: str
    detail: str
    started_at: dt.datetime
    finished_at: dt.datetime


class ReceiptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: str
    provider_message_id: str
    status: str
    code: str
    received_at: dt.datetime


class HistoryOut(BaseModel):
    message: MessageOut
    statuses: list[StatusChangeOut]
    attempts: list[AttemptOut]
    receipts: list[ReceiptOut]


class ReceiptIn(BaseModel):
    """A provider's delivery callback (generic HTTP SMS/fax providers)."""

    id: str = Field(min_length=1, max_length=100)
    status: str = Field(min_length=1, max_length=40)
    code: str = Field("", max_length=40)


class OptInRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    locale: Locale = "en"
    source: str = Field("", max_length=100)


class OptInRequestOut(BaseModel):
    status: str
    confirmation_message_id: uuid.UUID
