"""The provider call of a delivery attempt, outside any transaction: fetch attachments, then try the
channel's providers in priority order (rate limit first; a transient failure falls back to the next
provider, a permanent one stops)."""

from __future__ import annotations

import mimetypes
from typing import Any

import httpx
from crm_platform.db import utcnow

from crm_notify.messages.service import AttemptResult, Claim, Outcome
from crm_notify.providers.base import DeliveryError, Document, Outbound, TransientError
from crm_notify.providers.ratelimit import ProviderRateLimiter
from crm_notify.providers.registry import adapter_for

_http: httpx.AsyncClient | None = None


async def fetch_attachments(
    items: list[dict[str, Any]], max_bytes: int, timeout: float
) -> tuple[Document, ...]:
    global _http
    if not items:
        return ()
    if _http is None:
        _http = httpx.AsyncClient(timeout=timeout, follow_redirects=True)
    docs = []
    for item in items:
        url = item["url"]
        try:
            async with _http.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise TransientError(
                        f"attachment {url}: HTTP {response.status_code}", code=str(response.status_code)
                    )
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise DeliveryError(
                            f"attachment {url} is larger than {max_bytes} bytes", code="too-large"
                        )
                    chunks.append(chunk)
                header_type = response.headers.get("content-type", "").split(";")[0].strip()
        except httpx.HTTPError as exc:
            raise TransientError(
                f"attachment {url}: {type(exc).__name__}: {exc}", code="attachment"
            ) from None
        filename = item.get("filename") or url.rstrip("/").rsplit("/", 1)[-1] or "attachment"
        content_type = (
            item.get("content_type")
            or header_type
            or mimetypes.guess_type(filename)[0]
            or "application/octet-stream"
        )
        docs.append(Document(filename, content_type, b"".join(chunks)))
    return tuple(docs)


async def attempt(claim: Claim, limiter: ProviderRateLimiter, max_bytes: int, timeout: float) -> Outcome:
    started = utcnow()
    try:
        documents = await fetch_attachments(claim.attachments, max_bytes, timeout)
    except DeliveryError as exc:
        kind = "permanent" if exc.code == "too-large" else "transient"
        return Outcome(kind, [AttemptResult("attachments", kind, exc.code, exc.detail, started, utcnow())])
    outbound = Outbound(
        message_id=str(claim.message_id),
        channel=claim.channel,
        recipient=claim.recipient,
        subject=claim.subject,
        text=claim.text,
        html=claim.html,
        attachments=documents,
        headers=claim.headers,
    )
    results: list[AttemptResult] = []
    waits: list[float] = []
    for provider in claim.providers:
        wait = await limiter.acquire(provider.name, provider.rate_per_second, cost=max(1, claim.segments))
        if wait > 0:
            waits.append(wait)
            continue
        started = utcnow()
        try:
            adapter = await adapter_for(provider.name, provider.kind, provider.config, provider.version)
            accepted = await adapter.send(outbound)
        except DeliveryError as exc:
            kind = "permanent" if exc.permanent else "transient"
            results.append(AttemptResult(provider.name, kind, exc.code, exc.detail, started, utcnow()))
            if exc.permanent:
                return Outcome("permanent", results, provider.name)
            continue
        results.append(AttemptResult(provider.name, "accepted", "", accepted.detail, started, utcnow()))
        return Outcome("sent", results, provider.name, accepted.provider_message_ids, accepted.segments)
    if waits and not results:
        return Outcome("rate_limited", results, wait=min(waits))
    return Outcome("transient", results)
