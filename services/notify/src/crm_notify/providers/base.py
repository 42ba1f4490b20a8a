"""The one interface every channel adapter implements, and the error classes the dispatcher acts on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Document:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Outbound:
    """A message ready for a provider: content rendered, attachments fetched, address normalised."""

    message_id: str
    channel: str
    recipient: str
    subject: str = ""
    text: str = ""
    html: str | None = None
    attachments: tuple[Document, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; ``provider_message_ids`` has one id per SMS segment."""

    provider_message_ids: tuple[str, ...]
    segments: int = 1
    detail: str = ""


@dataclass(frozen=True)
class Receipt:
    """A delivery report: ``status`` is "delivered", "undeliverable" or "pending" (no final state yet)."""

    provider_message_id: str
    status: str
    code: str = ""
    raw: str = ""


class DeliveryError(Exception):
    permanent = False

    def __init__(self, detail: str, code: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class TransientError(DeliveryError):
    """Try again later (SMTP 4xx, SMPP throttling, connection errors, HTTP 429/5xx)."""


class PermanentError(DeliveryError):
    """Never retry (SMTP 5xx, invalid number, HTTP 4xx)."""

    permanent = True


class Adapter(Protocol):
    name: str

    async def send(self, message: Outbound) -> Accepted: ...

    async def close(self) -> None: ...


class PollingAdapter(Adapter, Protocol):
    async def status(self, provider_message_id: str) -> Receipt: ...


def config_value(config: dict[str, Any], key: str, default: Any = None) -> Any:
    value = config.get(key, default)
    if value is None:
        raise PermanentError(f"provider configuration lacks {key!r}", code="config")
    return value
