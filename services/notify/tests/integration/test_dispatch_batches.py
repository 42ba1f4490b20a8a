"""The batch dispatcher under concurrency: dispatchers running at once (as in several worker replicas)
claim disjoint batches with FOR UPDATE SKIP LOCKED, so no message is sent twice and none is left behind."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from crm_notify import worker
from crm_notify.app import definition
from crm_notify.messages import tasks
from sqlalchemy import text

from .test_delivery import add_provider, send


async def test_concurrent_dispatchers_never_send_a_message_twice(crm, smtp, monkeypatch):
    notify = await crm.start(definition)  # no Celery worker: the dispatchers below are the only ones
    monkeypatch.setattr(worker.settings, "database_url", notify.database_url)
    await add_provider(notify, smtp.provider(pool_size=2))
    ids = [
        (
            await send(
                notify,
                {
                    "recipient": f"user{i}@example.com",
                    "channel": "email",
                    "subject": f"m{i}",
                    "body_text": "x",
                },
            )
        )["id"]
        for i in range(40)
    ]
    results: list[dict[str, int]] = await asyncio.gather(
        *(tasks.dispatch(batch_size=4, max_seconds=60) for _ in range(4))
    )
    assert sum(r.get("sent", 0) for r in results) == 40
    assert sum(1 for r in results if r.get("sent")) >= 2  # the work was really shared

    subjects = Counter(r.message["Subject"] for r in smtp.handler.received)
    assert len(subjects) == 40 and set(subjects.values()) == {1}
    async with notify.runtime.sessions() as s:
        rows: Any = (
            await s.execute(
                text(
                    "SELECT m.status, (SELECT count(*) FROM delivery_attempt a WHERE a.message_id = m.id),"
                    " (SELECT count(*) FROM message_status_change c WHERE c.message_id = m.id)"
                    " FROM message m"
                )
            )
        ).all()
        sent_events = await s.scalar(
            text("SELECT count(*) FROM outbox_event WHERE subject = 'crm.notify.message.sent'")
        )
    assert len(rows) == len(ids) and {tuple(r) for r in rows} == {("sent", 1, 2)}
    assert sent_events == 40


async def test_a_claimed_message_is_skipped_not_waited_for(crm, smtp, monkeypatch):
    """While one transaction holds a message's row lock, another dispatcher claims the rest at once."""
    notify = await crm.start(definition)
    monkeypatch.setattr(worker.settings, "database_url", notify.database_url)
    await add_provider(notify, smtp.provider())
    first = await send(
        notify, {"recipient": "a@example.com", "channel": "email", "subject": "a", "body_text": "x"}
    )
    await send(notify, {"recipient": "b@example.com", "channel": "email", "subject": "b", "body_text": "x"})
    async with notify.runtime.sessions() as holder, holder.begin():
        await holder.execute(text("SELECT 1 FROM message WHERE id = :id FOR UPDATE"), {"id": first["id"]})
        counts = await asyncio.wait_for(tasks.dispatch(batch_size=10), timeout=20)
        assert counts == {"sent": 1}
    assert [r.recipients for r in smtp.handler.received] == [["b@example.com"]]
    assert await tasks.dispatch(batch_size=10) == {"sent": 1}
    assert sorted(r.recipients[0] for r in smtp.handler.received) == ["a@example.com", "b@example.com"]


async def test_a_repeated_request_gets_its_first_message_even_when_the_recipient_is_gone(crm, smtp):
    notify = await crm.start(definition)
    admin = notify.auth("admin")
    r = await notify.http.put(
        "/api/v1/directory/users/rep-gone",
        headers=admin,
        json={"display_name": "G", "email": "g@example.com"},
    )
    assert r.status_code == 200
    body = {
        "record": {"service": "notify", "record_type": "user", "id": "rep-gone"},
        "channel": "email",
        "subject": "S",
        "body_text": "x",
        "idempotency_key": "k-gone",
    }
    first = await send(notify, body)
    assert (await notify.http.delete("/api/v1/directory/users/rep-gone", headers=admin)).status_code == 204
    r = await notify.http.post("/api/v1/notifications", json=body, headers=admin)
    assert r.status_code in (200, 202) and r.json()["id"] == first["id"], r.text
    body["idempotency_key"] = "k-new"
    r = await notify.http.post("/api/v1/notifications", json=body, headers=admin)
    assert r.status_code == 422, r.text  # a new request for a recipient who is gone


async def test_an_adapter_crash_fails_only_its_message_in_a_batch(crm, smtp, http_double, monkeypatch):
    """An unexpected exception in one provider call is a transient failure of that message; the other
    messages of the batch are recorded as sent (never left in "sending" to be sent again)."""
    notify = await crm.start(definition)
    monkeypatch.setattr(worker.settings, "database_url", notify.database_url)
    await add_provider(notify, smtp.provider())
    await add_provider(
        notify, {"name": "sms-broken", "kind": "http_sms", "config": {"url": f"{http_double.url}/sms"}}
    )
    from crm_notify.providers import http as http_providers

    async def crash(self: Any, message: Any) -> Any:
        raise RuntimeError("adapter bug")

    monkeypatch.setattr(http_providers.HttpSmsAdapter, "send", crash)
    sms = await send(notify, {"recipient": "+36301234567", "channel": "sms", "body_text": "hi"})
    mail = await send(
        notify, {"recipient": "a@example.com", "channel": "email", "subject": "s", "body_text": "x"}
    )
    counts = await tasks.dispatch(batch_size=10)
    assert counts == {"sent": 1, "retrying": 1}
    r = await notify.http.get(f"/api/v1/notifications/{sms['id']}/history", headers=notify.auth("admin"))
    history = r.json()
    assert history["message"]["status"] == "retrying"
    assert [(a["provider"], a["code"]) for a in history["attempts"]] == [("dispatcher", "error")]
    r = await notify.http.get(f"/api/v1/notifications/{mail['id']}", headers=notify.auth("admin"))
    assert r.json()["status"] == "sent"
