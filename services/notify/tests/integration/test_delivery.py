"""Delivery against real peers started by the tests: aiosmtpd (451 then success, 550, SMTPUTF8, HTML,
attachments), an SMPP SMSC simulator (segments, delivery receipts, throttling, invalid numbers), the HTTP
fax/SMS provider double, provider fallback and the dead-letter state. Celery runs in a real worker."""

from __future__ import annotations

from typing import Any

from crm_platform.testing.harness import eventually
from notify_support.api import add_provider, send, start
from sqlalchemy import select

PERSIAN_71 = "سلام " + "ب" * 66  # 71 characters, UCS-2: two segments


async def wait_status(notify: Any, message_id: str, *statuses: str, timeout: float = 20.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await notify.http.get(f"/api/v1/notifications/{message_id}/history", headers=notify.auth("admin"))
        body = r.json()
        return body if body["message"]["status"] in statuses else None

    return await eventually(check, timeout=timeout, interval=0.1)  # type: ignore[no-any-return]


async def outbox_subjects(notify: Any) -> list[str]:
    t = notify.runtime.tables.outbox
    async with notify.runtime.sessions() as s:
        return list((await s.scalars(select(t.c.subject).order_by(t.c.seq))).all())


async def test_smtp_451_then_success_is_retried_and_sent_once(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    smtp.handler.script["rep@example.com"] = ["451 4.7.1 Greylisted, try again"]
    sent = await send(
        notify,
        {
            "recipient": "rep@example.com",
            "channel": "email",
            "subject": "Hello",
            "body_text": "Plain text body",
        },
    )
    history = await wait_status(notify, sent["id"], "sent")
    attempts = history["attempts"]
    assert [(a["number"], a["outcome"], a["code"]) for a in attempts] == [
        (1, "transient", "451"),
        (2, "accepted", ""),
    ]
    assert [s["status"] for s in history["statuses"]] == ["queued", "retrying", "sent"]
    assert len(smtp.handler.to("rep@example.com")) == 1
    assert "crm.notify.message.sent" in await outbox_subjects(notify)


async def test_smtp_550_fails_at_once_without_retry(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    smtp.handler.always["nobody@example.com"] = "550 5.1.1 No such user"
    sent = await send(
        notify, {"recipient": "nobody@example.com", "channel": "email", "subject": "Hi", "body_text": "x"}
    )
    history = await wait_status(notify, sent["id"], "failed")
    assert [(a["outcome"], a["code"]) for a in history["attempts"]] == [("permanent", "550")]
    assert "550" in history["message"]["status_reason"]
    assert len([x for x in smtp.handler.rcpt_log if x[0] == "nobody@example.com"]) == 1
    assert smtp.handler.received == []
    assert "crm.notify.message.failed" in await outbox_subjects(notify)


async def test_transient_failures_end_in_the_dead_letter_state(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    smtp.handler.always["busy@example.com"] = "421 4.3.2 Service not available"
    sent = await send(
        notify, {"recipient": "busy@example.com", "channel": "email", "subject": "Hi", "body_text": "x"}
    )
    history = await wait_status(notify, sent["id"], "dead")
    assert [a["outcome"] for a in history["attempts"]] == ["transient"] * 3  # max_attempts = 3 in tests
    assert history["message"]["status_reason"].startswith("gave up after 3 attempts")
    # an operator retries the dead letter once the cause is fixed
    del smtp.handler.always["busy@example.com"]
    r = await notify.http.post(f"/api/v1/notifications/{sent['id']}/retry", headers=notify.auth("admin"))
    assert r.status_code == 200 and r.json()["status"] == "queued"
    await wait_status(notify, sent["id"], "sent")


async def test_fallback_provider_takes_over_when_the_primary_is_down(crm, smtp):
    notify = await start(crm)
    from notify_support.smtp_peer import free_port

    await add_provider(
        notify,
        {
            **smtp.provider("smtp-down", priority=1),
            "config": {
                "host": "127.0.0.1",
                "port": free_port(),
                "from_address": "crm@example.com",
                "timeout": 2,
            },
        },
    )
    await add_provider(notify, smtp.provider("smtp-backup", priority=2))
    sent = await send(
        notify, {"recipient": "a@example.com", "channel": "email", "subject": "S", "body_text": "x"}
    )
    history = await wait_status(notify, sent["id"], "sent")
    assert [(a["provider"], a["outcome"]) for a in history["attempts"]] == [
        ("smtp-down", "transient"),
        ("smtp-backup", "accepted"),
    ]
    assert history["message"]["provider"] == "smtp-backup"


async def test_rtl_email_with_smtputf8_address_html_and_attachment(crm, smtp, http_double):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    r = await notify.http.put(
        "/api/v1/directory/users/rep-fa",
        headers=notify.auth("admin"),
        json={"display_name": "علی", "email": "دنی@דוגמה.ישראל", "locale": "fa", "timezone": "Asia/Tehran"},
    )
    assert r.status_code == 200, r.text
    sent = await send(
        notify,
        {
            "record": {"service": "notify", "record_type": "user", "id": "rep-fa"},
            "channel": "preferred",
            "template": "lead_assigned",
            "data": {"lead_id": "L-1", "lead": {"name": "رضا", "company": "آکمه"}, "reason": ""},
            "attachments": [{"url": f"{http_double.url}/files/invoice.pdf", "filename": "invoice.pdf"}],
        },
    )
    await wait_status(notify, sent["id"], "sent")
    [received] = smtp.handler.received
    assert received.smtputf8 and received.recipients == ["דנی@דוגמה.ישראל".replace("דנی", "دنی")]
    msg = received.message
    assert msg["Subject"] == "سرنخ جدید: رضا"
    html = msg.get_body(("html",)).get_content()
    assert '<html lang="fa" dir="rtl">' in html and "direction:rtl" in html
    assert "به شما واگذار شد" in msg.get_body(("plain",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf" and attachment.get_content_type() == "application/pdf"
    assert attachment.get_content().startswith(b"%PDF")


async def test_smpp_persian_sms_in_two_segments_is_delivered_by_receipts(crm, smsc):
    notify = await start(crm)
    await add_provider(notify, smsc.provider())
    listeners = notify.app.state.receipt_listeners
    await eventually(lambda: _bound(listeners), timeout=10)
    sent = await send(notify, {"recipient": "09123456789", "channel": "sms", "body_text": PERSIAN_71})
    history = await wait_status(notify, sent["id"], "delivered")
    assert history["message"]["segments"] == 2 and len(history["message"]["provider_message_ids"]) == 2
    assert [s.part[1:] for s in smsc.submitted] == [(2, 1), (2, 2)]  # type: ignore[index]
    assert all(s.data_coding == 8 for s in smsc.submitted)
    assert smsc.messages == [("989123456789", PERSIAN_71)]
    assert sorted(r["status"] for r in history["receipts"]) == ["delivered", "delivered"]
    assert [s["status"] for s in history["statuses"]][-2:] == ["sent", "delivered"]
    assert "crm.notify.message.delivered" in await outbox_subjects(notify)


async def _bound(listeners: Any) -> bool:
    return any(listener.bound.is_set() for _, listener, _ in listeners.running.values())


async def test_smpp_throttling_is_retried_and_invalid_numbers_fail(crm, smsc):
    notify = await start(crm)
    await add_provider(notify, smsc.provider())
    await eventually(lambda: _bound(notify.app.state.receipt_listeners), timeout=10)
    smsc.throttle["36301234567"] = 1
    smsc.invalid.add("972522345678")
    smsc.undeliverable.add("989121111111")
    throttled = await send(
        notify, {"recipient": "+36301234567", "channel": "sms", "body_text": "Hello Budapest"}
    )
    invalid = await send(notify, {"recipient": "+972522345678", "channel": "sms", "body_text": "Shalom"})
    lost = await send(notify, {"recipient": "+989121111111", "channel": "sms", "body_text": "Salam"})
    history = await wait_status(notify, throttled["id"], "delivered")
    assert [(a["outcome"], a["code"]) for a in history["attempts"]] == [
        ("transient", "0x00000058"),
        ("accepted", ""),
    ]
    history = await wait_status(notify, invalid["id"], "failed")
    assert [(a["outcome"], a["code"]) for a in history["attempts"]] == [("permanent", "0x0000000B")]
    history = await wait_status(notify, lost["id"], "failed")
    assert history["message"]["status_reason"].startswith("undeliverable")


async def test_fax_through_the_http_fax_provider_double_with_job_status(crm, http_double):
    notify = await start(crm)
    await add_provider(
        notify,
        {
            "name": "fax-http",
            "kind": "http_fax",
            "config": {"url": f"{http_double.url}/fax", "token": "fax-token"},
        },
    )
    sent = await send(
        notify,
        {
            "recipient": "+3612345678",
            "channel": "fax",
            "purpose": "transactional",
            "body_text": "Invoice attached",
            "attachments": [{"url": f"{http_double.url}/files/invoice.pdf", "filename": "invoice.pdf"}],
        },
    )
    history = await wait_status(notify, sent["id"], "sent")
    [(fax_id, fax)] = http_double.faxes.items()
    assert fax["to"] == "+3612345678" and fax["content"].startswith(b"%PDF")
    assert fax["reference"] == sent["id"] and fax["auth"] == "Bearer fax-token"
    assert history["message"]["provider_message_ids"] == [fax_id]

    from crm_notify.messages.tasks import poll_receipts

    poll_receipts.delay()  # the job is still being sent: nothing changes
    fax["status"] = "delivered"
    poll_receipts.delay()  # the beat task asks the provider how the job ended, in the real worker
    history = await wait_status(notify, sent["id"], "delivered")
    assert [r["status"] for r in history["receipts"]] == ["delivered"]


async def test_http_sms_provider_receipt_webhook(crm, http_double):
    notify = await start(crm)
    await add_provider(
        notify,
        {
            "name": "sms-http",
            "kind": "http_sms",
            "config": {"url": f"{http_double.url}/sms", "webhook_token": "hook-secret", "from": "CRM"},
        },
    )
    sent = await send(notify, {"recipient": "+989123456789", "channel": "sms", "body_text": "Hi"})
    await wait_status(notify, sent["id"], "sent")
    [sms] = http_double.sms
    r = await notify.http.post(
        "/api/v1/receipts/sms-http",
        json={"id": sms["id"], "status": "delivered"},
        headers={"x-webhook-token": "wrong"},
    )
    assert r.status_code == 401
    r = await notify.http.post(
        "/api/v1/receipts/sms-http",
        json={"id": sms["id"], "status": "delivered"},
        headers={"x-webhook-token": "hook-secret"},
    )
    assert r.status_code == 200 and r.json() == {"outcome": "applied"}
    r = await notify.http.post(
        "/api/v1/receipts/sms-http",
        json={"id": sms["id"], "status": "delivered"},
        headers={"x-webhook-token": "hook-secret"},
    )
    assert r.json() == {"outcome": "duplicate"}
    await wait_status(notify, sent["id"], "delivered")
