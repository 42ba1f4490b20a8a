"""Generic HTTP providers for SMS and fax.

SMS: ``POST {url}`` JSON ``{"to", "from", "text", "reference"}`` -> ``{"id": ...}`` or ``{"ids": [...]}``.
Fax: ``POST {url}/faxes`` JSON ``{"to", "from", "reference", "document": {"filename", "content_type",
"content_base64"}}`` -> ``{"id": ...}``; status by
``GET {url}/faxes/{id}`` -> ``{"status": "queued|sending|delivered|failed", "code": ...}``.
Both send ``Authorization: Bearer {token}`` when configured. 429, 5xx and transport errors are
transient; other 4xx are permanent. Receipts may also be pushed to ``POST /api/v1/receipts/{provider}``.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from crm_notify.providers import segments
from crm_notify.providers.base import (
    Accepted,
    DeliveryError,
    Outbound,
    PermanentError,
    Receipt,
    TransientError,
    config_value,
)

FAX_STATES = {
    "delivered": "delivered",
    "done": "delivered",
    "failed": "undeliverable",
    "undeliverable": "undeliverable",
}


def _error(response: httpx.Response) -> DeliveryError:
    detail = f"HTTP {response.status_code}: {response.text[:300]}"
    if response.status_code == 429 or response.status_code >= 500:
        return TransientError(detail, code=str(response.status_code))
    return PermanentError(detail, code=str(response.status_code))


class _HttpBase:
    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.url = str(config_value(config, "url")).rstrip("/")
        token = config.get("token")
        self.headers = {"authorization": f"Bearer {token}"} if token else {}
        self.sender = str(config.get("from", ""))
        self.client = httpx.AsyncClient(timeout=float(config.get("timeout", 10.0)), headers=self.headers)

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}", code="connection") from None
        if response.status_code >= 300:
            raise _error(response)
        try:
            body: Any = response.json()
        except ValueError:
            raise TransientError("provider answered without JSON", code="protocol") from None
        return body if isinstance(body, dict) else {}

    async def close(self) -> None:
        await self.client.aclose()


class HttpSmsAdapter(_HttpBase):
    async def send(self, message: Outbound) -> Accepted:
        segs = segments.split(message.text)
        body = await self._call(
            "POST",
            self.url,
            json={
                "to": message.recipient,
                "from": self.sender,
                "text": message.text,
                "reference": message.message_id,
            },
        )
        ids = [str(i) for i in body.get("ids") or ([body["id"]] if body.get("id") else [])]
        if not ids:
            raise TransientError("provider returned no message id", code="protocol")
        return Accepted(tuple(ids), segs.count, f"{segs.encoding}, {segs.count} segment(s)")


class HttpFaxAdapter(_HttpBase):
    async def send(self, message: Outbound) -> Accepted:
        if message.attachments:
            doc = message.attachments[0]
            filename, content, content_type = doc.filename, doc.content, doc.content_type
        else:
            filename, content, content_type = (
                "message.txt",
                message.text.encode(),
                "text/plain; charset=utf-8",
            )
        document = {
            "filename": filename,
            "content_type": content_type,
            "content_base64": base64.b64encode(content).decode(),
        }
        body = await self._call(
            "POST",
            f"{self.url}/faxes",
            json={
                "to": message.recipient,
                "from": self.sender,
                "reference": message.message_id,
                "document": document,
            },
        )
        if not body.get("id"):
            raise TransientError("provider returned no fax id", code="protocol")
        return Accepted((str(body["id"]),), 1, "fax job accepted")

    async def status(self, provider_message_id: str) -> Receipt:
        body = await self._call("GET", f"{self.url}/faxes/{provider_message_id}")
        state = str(body.get("status", "")).lower()
        return Receipt(
            provider_message_id,
            FAX_STATES.get(state, "pending"),
            code=str(body.get("code", state)),
            raw=str(body),
        )
