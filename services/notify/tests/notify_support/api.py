"""Steps the notify integration tests share: start notify with a Celery worker, register a provider,
send a notification over REST."""

from __future__ import annotations

from typing import Any

from crm_notify.app import definition


async def start(crm: Any) -> Any:
    return await crm.start(definition, celery_worker=True)


async def add_provider(notify: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = await notify.http.post("/api/v1/providers", json=body, headers=notify.auth("admin"))
    assert r.status_code == 201, r.text
    return r.json()


async def send(notify: Any, body: dict[str, Any], role: str = "admin") -> dict[str, Any]:
    r = await notify.http.post("/api/v1/notifications", json=body, headers=notify.auth(role))
    assert r.status_code == 202, r.text
    return r.json()
