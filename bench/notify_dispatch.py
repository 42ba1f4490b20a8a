"""Notify dispatch benchmark: messages/s from SendNotification to the SMTP server accepting them, and
p50/p99 latency from a crm.leads.lead.assigned event to the SMTP accept, beside the raw rate of the same
SMTP server fed directly by aiosmtplib (one connection, sequential sends) in the same run.

Everything runs on loopback: PostgreSQL, NATS and Redis (CRM_*_URL, else embedded), an aiosmtpd server in
its own thread, the notify app in-process (FastAPI lifespan + grpc.aio + consumers + relay, through the
test harness) and one Celery worker in-process (solo pool, its own thread) -- the same wiring the
integration tests use, so the figure is a floor for a deployment with separate worker processes.

    uv run python bench/notify_dispatch.py [--messages 400] [--events 100]

Figures are printed, never asserted; record them in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "services" / "notify" / "tests"))


class CountingHandler:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted: dict[str, float] = {}  # Subject -> perf_counter at DATA accept
        self.count = 0
        self.done = threading.Event()
        self.expect = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        data = envelope.original_content or envelope.content
        subject = ""
        for line in bytes(data).split(b"\r\n"):
            if line.lower().startswith(b"subject:"):
                subject = line[8:].strip().decode("utf-8", "replace")
                break
        with self.lock:
            self.accepted[subject] = now
            self.count += 1
            if self.expect and self.count >= self.expect:
                self.done.set()
        return "250 OK"

    def reset(self, expect: int) -> None:
        with self.lock:
            self.accepted.clear()
            self.count = 0
            self.expect = expect
            self.done.clear()


async def raw_rate(port: int, handler: CountingHandler, n: int) -> float:
    handler.reset(n)
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    await smtp.connect()
    start = time.perf_counter()
    for i in range(n):
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "crm@example.com", f"r{i}@example.com", f"raw {i}"
        msg.set_content("raw baseline")
        await smtp.send_message(msg)
    elapsed = time.perf_counter() - start
    await smtp.quit()
    return n / elapsed


async def main(args: argparse.Namespace) -> None:
    from crm.leads.v1 import events_pb2
    from crm.notify.v1 import notify_pb2, notify_pb2_grpc
    from crm_notify import worker
    from crm_notify.app import definition
    from crm_platform.testing.harness import DatabaseFactory, ServiceHarness
    from crm_platform.testing.servers import resolve_servers
    from notify_support.smtp_peer import free_port

    handler = CountingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    stack = contextlib.ExitStack()
    servers = resolve_servers(stack)
    databases = DatabaseFactory(servers)
    harness = ServiceHarness(servers, databases)
    worker.settings.retry_base_seconds = 0.5
    try:
        await harness.reset_nats()
        notify = await harness.start(definition, celery_worker=True, database_pool_size=10)
        admin = notify.auth("admin")
        r = await notify.http.post(
            "/api/v1/providers",
            headers=admin,
            json={
                "name": "bench-smtp",
                "kind": "smtp",
                "config": {"host": "127.0.0.1", "port": port, "from_address": "crm@example.com"},
            },
        )
        assert r.status_code == 201, r.text
        await notify.http.put(
            "/api/v1/directory/users/bench-rep",
            headers=admin,
            json={"display_name": "Bench", "email": "rep@example.com"},
        )
        await notify.http.post(
            "/api/v1/rules",
            headers=admin,
            json={
                "name": "bench",
                "event_subject": "crm.leads.lead.assigned",
                "template_key": "lead_assigned",
                "channel": "email",
                "recipient": "owner",
                "purpose": "service",
            },
        )

        raw = await raw_rate(port, handler, args.messages)

        # 1. throughput: SendNotification (gRPC, 16 in flight) -> SMTP accept of the last message
        stub = notify_pb2_grpc.NotifyServiceStub(notify.grpc_channel)
        md = notify.service_metadata()
        handler.reset(args.messages)
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                await stub.SendNotification(
                    notify_pb2.SendNotificationRequest(
                        recipient=f"u{i}@example.com",
                        channel=notify_pb2.CHANNEL_EMAIL,
                        subject=f"bench {i}",
                        body_text="dispatch benchmark",
                        idempotency_key=f"bench-{i}",
                    ),
                    metadata=md,
                )

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(args.messages)))
        requested = time.perf_counter() - start
        if not await asyncio.to_thread(handler.done.wait, args.timeout):
            r = await notify.http.get("/api/v1/notifications", params={"limit": 500}, headers=admin)
            states: dict[str, int] = {}
            for m in r.json()["items"]:
                states[m["status"]] = states.get(m["status"], 0) + 1
            print(
                f"warning: only {handler.count} of {args.messages} accepted in {args.timeout}s; statuses {states}"  # noqa: E501
            )
        elapsed = max(handler.accepted.values()) - start
        delivered = handler.count
        dispatch = delivered / elapsed

        # 2. latency: lead.assigned published at a steady pace -> SMTP accept of its e-mail
        handler.reset(args.events)
        js = notify.runtime.js
        published: dict[str, float] = {}
        for _ in range(args.events):
            lead_id = str(uuid.uuid4())
            event = events_pb2.LeadAssigned(lead_id=lead_id, owner_id="bench-rep")
            published[f"New lead: {lead_id}"] = time.perf_counter()
            await js.publish(
                "crm.leads.lead.assigned",
                event.SerializeToString(),
                stream="CRM_LEADS",
                headers={"Nats-Msg-Id": str(uuid.uuid4()), "Crm-Event-Type": "crm.leads.v1.LeadAssigned"},
            )
            await asyncio.sleep(1 / args.event_rate)
        await asyncio.to_thread(handler.done.wait, args.timeout)
        latencies = sorted(
            (handler.accepted[s] - t) * 1000 for s, t in published.items() if s in handler.accepted
        )
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]

        print(
            f"raw aiosmtplib -> aiosmtpd          : {raw:8.1f} msg/s ({args.messages} messages, 1 connection)"
        )
        print(
            f"SendNotification -> SMTP accept      : {dispatch:8.1f} msg/s ({delivered} messages; "
            f"requests took {requested:.2f}s)   ratio {dispatch / raw:.0%} of raw"
        )
        print(
            f"lead.assigned -> SMTP accept latency : p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            f"({len(latencies)} events at {args.event_rate}/s)"
        )
    finally:
        await harness.close()
        await databases.drop_all()
        controller.stop()
        stack.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--event-rate", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    asyncio.run(main(parser.parse_args()))
