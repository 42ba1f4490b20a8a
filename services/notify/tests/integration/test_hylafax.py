"""Fax through a real HylaFAX (Debian's hylafax-server: hfaxd + faxq on a private spool and port, no modem;
see notify_support/hylafax.py) with the notify service's own code path: POST /notifications -> the batch
dispatcher in a real Celery worker -> HylafaxAdapter -> hfaxd; notify.poll_receipts -> JOB/JPARM STATE.

Without a modem faxq leaves a job READY (waiting for a modem) or BLOCKED (another job to the same number
waits) until it is killed (JKILL: FAILED E345 "Job aborted by request") or its kill time (LASTTIME) passes
(FAILED E325 "Kill time expired"); both end the notify message as failed with that reason."""

from __future__ import annotations

import asyncio
import ftplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_notify.providers.base import Document, Outbound, PermanentError, TransientError
from crm_notify.providers.hylafax import HylafaxAdapter
from crm_platform.testing.harness import eventually
from notify_support import hylafax as hfx
from notify_support.api import add_provider, send, start
from sqlalchemy import select

PENDING = ("READY", "BLOCKED", "PENDING", "SLEEPING", "SUSPENDED")


@pytest.fixture(scope="session")
def hylafax() -> Iterator[hfx.HylafaxServer]:
    reason = hfx.unavailable()
    if reason:
        pytest.skip(reason)
    with hfx.HylafaxServer() as server:
        yield server


async def history(notify: Any, message_id: str) -> dict[str, Any]:
    r = await notify.http.get(f"/api/v1/notifications/{message_id}/history", headers=notify.auth("admin"))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def wait_status(notify: Any, message_id: str, *statuses: str, timeout: float = 30.0) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await history(notify, message_id)
        return body if body["message"]["status"] in statuses else None

    return await eventually(check, timeout=timeout, interval=0.1)  # type: ignore[no-any-return]


async def poll_receipts() -> dict[str, int]:
    """One run of the beat task notify.poll_receipts in the real worker; returns its outcome counts."""
    from crm_notify.messages.tasks import poll_receipts as task

    result = task.delay()
    return await asyncio.to_thread(result.get, timeout=60)  # type: ignore[no-any-return]


async def outbox_subjects(notify: Any) -> list[str]:
    t = notify.runtime.tables.outbox
    async with notify.runtime.sessions() as s:
        return list((await s.scalars(select(t.c.subject).order_by(t.c.seq))).all())


async def test_pdf_fax_is_queued_in_hylafax_and_a_killed_job_fails_the_message(crm, http_double, hylafax):
    invoice = hfx.pdf("Invoice 2024-0042")
    http_double.files["invoice.pdf"] = invoice
    notify = await start(crm)
    await add_provider(notify, hylafax.provider())
    sent = await send(
        notify,
        {
            "recipient": "+3612345601",
            "channel": "fax",
            "purpose": "transactional",
            "body_text": "Invoice attached",
            "attachments": [{"url": f"{http_double.url}/files/invoice.pdf", "filename": "invoice.pdf"}],
        },
    )
    body = await wait_status(notify, sent["id"], "sent")
    [job_id] = body["message"]["provider_message_ids"]
    assert [(a["outcome"], a["provider"]) for a in body["attempts"]] == [("accepted", "fax-hylafax")]

    # the job is in HylaFAX's queue: our dial string, our message id, owner, a 3 h kill time, the PDF itself
    job = await asyncio.to_thread(hylafax.wait_state, job_id, "READY")
    assert job.params["DIALSTRING"] == "+3612345601"
    assert job.params["JOBINFO"] == sent["id"]
    assert job.params["OWNER"] == hfx.USER
    assert job.params["LASTTIME"] == "000300"
    assert job.params["STATUS"] == ""  # nothing went wrong: it waits for a modem
    assert job.qfile["queue"] == "sendq" and job.qfile["number"] == "+3612345601"
    assert int(job.qfile["killtime"]) - int(job.qfile["tts"]) == 3 * 3600
    [(kind, path)] = job.documents
    assert kind == "PDF" and path.startswith("docq/")
    assert hylafax.document(path) == invoice

    # the beat task asks hfaxd: still waiting, nothing changes
    assert await poll_receipts() == {"pending": 1}
    assert (await history(notify, sent["id"]))["message"]["status"] == "sent"

    # no modem will ever take it: the operator kills it (hfaxd's JKILL) and faxq fails the job
    assert (await asyncio.to_thread(hylafax.kill, job_id)).startswith("200")
    job = await asyncio.to_thread(hylafax.wait_state, job_id, "FAILED")
    assert (job.params["ERRORCODE"], job.params["STATUS"]) == ("E345", "Job aborted by request")
    assert job.qfile["queue"] == "doneq"
    assert any(line.startswith(f"doneq/q{job_id} ") for line in hylafax.notified())  # faxq's notifier ran

    assert await poll_receipts() == {"applied": 1}
    body = await wait_status(notify, sent["id"], "failed")
    assert body["message"]["status_reason"] == "undeliverable: E345 Job aborted by request"
    assert [(r["status"], r["code"], r["provider_message_id"]) for r in body["receipts"]] == [
        ("undeliverable", "E345 Job aborted by request", job_id)
    ]
    assert [s["status"] for s in body["statuses"]] == ["queued", "sent", "failed"]
    assert "crm.notify.message.failed" in await outbox_subjects(notify)
    assert await poll_receipts() == {}  # a failed message is not polled again


async def test_text_fax_is_set_as_postscript_that_ghostscript_images(crm, hylafax, tmp_path):
    notify = await start(crm)
    await add_provider(notify, hylafax.provider())
    text = "Reminder: invoice 2024-0042 (EUR 120.00) is due.\n\tGrüße, Müller & Co."
    sent = await send(notify, {"recipient": "+3612345602", "channel": "fax", "body_text": text})
    body = await wait_status(notify, sent["id"], "sent")
    [job_id] = body["message"]["provider_message_ids"]
    job = await asyncio.to_thread(hylafax.wait_state, job_id, "READY")
    assert job.params["JOBINFO"] == sent["id"]
    [(kind, path)] = job.documents
    assert kind == "PS"
    document = hylafax.document(path)
    assert document.startswith(b"%!PS-Adobe-3.0")
    assert b"(Reminder: invoice 2024-0042 \\(EUR 120.00\\) is due.)" in document
    assert b"Gr\\374\\337e, M\\374ller & Co." in document  # Latin-1, octal escapes
    pages = await asyncio.to_thread(hfx.fax_pages, document, tmp_path)
    assert pages in (1, -1)  # one G3 page, as faxq's ps2fax makes it (-1: no ghostscript to check with)
    await asyncio.to_thread(hylafax.kill, job_id)

    # Persian text has no glyphs in a PostScript core font: refused at once, never queued
    persian = await send(notify, {"recipient": "+3612345603", "channel": "fax", "body_text": "سلام"})
    body = await wait_status(notify, persian["id"], "failed")
    assert [(a["outcome"], a["code"]) for a in body["attempts"]] == [("permanent", "unsupported-text")]
    assert "send it as a PDF" in body["message"]["status_reason"]


async def test_no_server_is_transient_and_a_wrong_password_is_permanent(crm, hylafax):
    notify = await start(crm)
    down = {**hylafax.provider("fax-down"), "priority": 1}
    down["config"] = {**down["config"], "port": hfx.free_port()}
    await add_provider(notify, down)
    secure = {**hylafax.provider("fax-secure"), "priority": 2}
    secure["config"] = {**secure["config"], "user": hfx.SECURE_USER, "password": "wrong"}
    provider = await add_provider(notify, secure)

    sent = await send(notify, {"recipient": "+3612345604", "channel": "fax", "body_text": "Hello"})
    body = await wait_status(notify, sent["id"], "failed")
    # connection refused falls back to the next provider; hfaxd's "530 Login incorrect" stops the message
    assert [(a["provider"], a["outcome"], a["code"]) for a in body["attempts"]] == [
        ("fax-down", "transient", "connection"),
        ("fax-secure", "permanent", "530"),
    ]
    assert "530 Login incorrect" in body["message"]["status_reason"]

    # with the right password the operator's retry goes through the same fallback and is queued
    secure["config"]["password"] = hfx.SECURE_PASSWORD
    r = await notify.http.put(
        f"/api/v1/providers/{provider['id']}", json=secure, headers=notify.auth("admin")
    )
    assert r.status_code == 200, r.text
    r = await notify.http.post(f"/api/v1/notifications/{sent['id']}/retry", headers=notify.auth("admin"))
    assert r.status_code == 200, r.text
    body = await wait_status(notify, sent["id"], "sent")
    assert [(a["provider"], a["outcome"]) for a in body["attempts"]][-2:] == [
        ("fax-down", "transient"),
        ("fax-secure", "accepted"),
    ]
    [job_id] = body["message"]["provider_message_ids"]
    job = await asyncio.to_thread(hylafax.wait_state, job_id, "READY")
    assert job.params["OWNER"] == hfx.SECURE_USER and job.params["JOBINFO"] == sent["id"]
    await asyncio.to_thread(hylafax.kill, job_id)


async def test_adapter_against_hfaxd(hylafax):
    adapter = HylafaxAdapter("fax-hylafax", hylafax.provider()["config"])

    # two attachments, one fax job: the PDF and a plain-text attachment (set as PostScript) in order
    message = Outbound(
        "m-multi",
        "fax",
        "+3612345605",
        attachments=(
            Document("quote.pdf", "application/pdf", hfx.pdf("Quote Q-7")),
            Document("terms.txt", "text/plain; charset=utf-8", b"Terms: 30 days net."),
        ),
    )
    accepted = await adapter.send(message)
    [job_id] = accepted.provider_message_ids
    job = await asyncio.to_thread(hylafax.wait_state, job_id, "READY")
    assert [kind for kind, _ in job.documents] == ["PDF", "PS"]
    assert (await adapter.status(job_id)).status == "pending"

    # a second job to the same number waits behind the first one: BLOCKED, still pending
    second = (
        await adapter.send(Outbound("m-second", "fax", "+3612345605", text="Second"))
    ).provider_message_ids
    await asyncio.to_thread(hylafax.wait_state, second[0], "BLOCKED")
    receipt = await adapter.status(second[0])
    assert (receipt.status, receipt.code) == ("pending", "BLOCKED")
    assert "Blocked by concurrent calls" in receipt.raw
    for job in (job_id, second[0]):
        await asyncio.to_thread(hylafax.kill, job)
    receipt = await adapter.status(job_id)
    assert (receipt.status, receipt.code) == ("undeliverable", "E345 Job aborted by request")

    with pytest.raises(PermanentError) as unknown:
        await adapter.status("999999")
    assert unknown.value.code == "unknown-job"

    # hfaxd would store 999999 dials as 16959 and a resolution of 100 unchecked: the adapter refuses them
    bad = HylafaxAdapter("x", {**hylafax.provider()["config"], "max_dials": 999999, "resolution": 100})
    with pytest.raises(PermanentError) as config:
        await bad.send(Outbound("m-config", "fax", "+3612345606", text="Hi"))
    assert config.value.code == "config"
    assert "max_dials must be 1..99" in str(config.value) and "resolution must be one of" in str(config.value)

    # documents hfaxd cannot image are refused before any connection
    png = Outbound("m-png", "fax", "+3612345606", attachments=(Document("a.png", "image/png", b"\x89PNG"),))
    with pytest.raises(PermanentError) as unsupported:
        await adapter.send(png)
    assert unsupported.value.code == "unsupported-document"

    # hfaxd asks every unknown or protected user for a password: none configured is a permanent error
    nobody = HylafaxAdapter("x", {**hylafax.provider()["config"], "user": "nobody"})
    with pytest.raises(PermanentError) as auth:
        await nobody.send(Outbound("m-auth", "fax", "+3612345607", text="Hi"))
    assert auth.value.code == "auth"

    down = HylafaxAdapter("x", {**hylafax.provider()["config"], "port": hfx.free_port()})
    with pytest.raises(TransientError) as refused:
        await down.send(Outbound("m-down", "fax", "+3612345608", text="Hi"))
    assert refused.value.code == "connection"
    with pytest.raises(TransientError):
        await down.status(job_id)


async def test_no_modem_kill_time_expiry_fails_the_message(crm, hylafax):
    """The failure a modem-less HylaFAX produces by itself: LASTTIME passes (1 minute, hfaxd's smallest)."""
    notify = await start(crm)
    await add_provider(notify, hylafax.provider(kill_time_minutes=1))
    sent = await send(notify, {"recipient": "+3612345609", "channel": "fax", "body_text": "Expires"})
    body = await wait_status(notify, sent["id"], "sent")
    [job_id] = body["message"]["provider_message_ids"]
    job = await asyncio.to_thread(hylafax.wait_state, job_id, "READY")
    assert job.params["LASTTIME"] == "000001"
    job = await asyncio.to_thread(hylafax.wait_state, job_id, "FAILED", timeout=120)
    assert (job.params["ERRORCODE"], job.params["STATUS"]) == ("E325", "Kill time expired")

    assert await poll_receipts() == {"applied": 1}
    body = await wait_status(notify, sent["id"], "failed")
    assert body["message"]["status_reason"] == "undeliverable: E325 Kill time expired"


def test_login_protocol_of_hfaxd(hylafax):
    """What the adapter's error classes rest on: hfaxd's replies to a right and a wrong password."""
    ftp = hylafax.session(hfx.SECURE_USER, hfx.SECURE_PASSWORD)
    assert ftp.sendcmd("NOOP").startswith("200")
    ftp.close()
    with pytest.raises(ftplib.error_perm, match="530 Login incorrect"):
        hylafax.session(hfx.SECURE_USER, "wrong")
    assert Path(hylafax.spool, "FIFO").exists()
