from __future__ import annotations

from pydantic import BaseModel, Field


class IndexedRecord(BaseModel):
    """A record of another service whose phones the index carries."""

    service: str = Field(min_length=1, max_length=40)
    record_type: str = Field(min_length=1, max_length=40)
    record_id: str = Field(min_length=1, max_length=64)
    display_name: str = Field("", max_length=300)
    owner_id: str | None = Field(None, max_length=100)
    phones: list[str] = Field(default_factory=list)


class PhoneRecordOut(BaseModel):
    service: str
    record_type: str
    id: str
    display_name: str
    owner_id: str | None


class PhoneLookupOut(BaseModel):
    e164: str
    records: list[PhoneRecordOut]
