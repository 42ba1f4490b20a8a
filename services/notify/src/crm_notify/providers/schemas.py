from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderKind = Literal["smtp", "smpp", "http_sms", "http_fax", "hylafax"]
SECRET_KEYS = ("password", "token", "webhook_token")


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    kind: ProviderKind
    priority: int = Field(100, ge=0, le=10_000)
    enabled: bool = True
    config: dict[str, Any] = Field(default_factory=dict)
    rate_per_second: float | None = Field(None, gt=0, le=100_000)


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    channel: str
    kind: str
    priority: int
    enabled: bool
    config: dict[str, Any]
    rate_per_second: float | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def redacted(cls, provider: Any) -> ProviderOut:
        out = cls.model_validate(provider)
        out.config = {k: ("***" if k in SECRET_KEYS and v else v) for k, v in out.config.items()}
        return out
