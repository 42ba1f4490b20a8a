"""Notify dispatch benchmark: messages/s from SendNotification to the SMTP server accepting them, and
p50/p99 latency from a crm.leads.lead.assigned event to the SMTP accept, beside the raw rate of the same
SMTP server fed directly by aiosmtplib in the same run.

The notify service runs as ``make run`` starts it: ``python -m crm_notify app`` (uvicorn + grpc.aio +
consumers + outbox relay) and ``python -m crm_notify worker`` (Celery prefork, ``--concurrency``), plus
``beat``, each its own process, on a database created and migrated for this run (dropped at the end).
The SMTP server (aiosmtpd) runs in a process of its own, so neither the load generator nor the raw client
shares its GIL. Accept times are taken with ``time.monotonic`` (system-wide on Linux) in that process.

Raw baseline, same server, same run, while the service idles: aiosmtplib sending the same message size
(a) over one connection, sequentially, and (b) over ``--raw-connections`` connections concurrently (the
most the dispatcher may open per provider). The ratio is taken against the better of the two, so pooled
connections do not flatter the figure.

    uv run python bench/notify_dispatch.py [--messages 1000] [--events 100] [--concurrency 2]
                                           [--profile DIR]

Servers: CRM_POSTGRES_URL / CRM_REDIS_URL, else embedded ones; NATS is a private embedded server unless
--shared-nats (test sessions on a shared server delete CRM_* streams). Figures are printed, never
asserted; record them in bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import httpx
from benchlib import (
    ROOT,
    Servers,
    ServiceProcess,
    machine_busy,
    pct,
    proc_cpu,
    resolve_servers,
    with_database,
    with_redis_db,
)

BODY = "dispatch benchmark " * 3


# ----------------------------------------------------------------------------------------------------
# the SMTP server, in its own process
# ----------------------------------------------------------------------------------------------------


def smtp_server_main(port: int, control: Connection) -> None:
    """aiosmtpd on ``port``; the control pipe takes ("reset", n) / ("wait", timeout) / ("stop",)."""
    from aiosmtpd.controller import Controller

    lock = threading.Lock()
    accepted: dict[str, float] = {}
    state = {"expect": 0, "count": 0}
    done = threading.Event()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            now = time.monotonic()
            data = bytes(envelope.original_content or envelope.content)
            subject = ""
            for line in data.split(b"\r\n"):
                if line.lower().startswith(b"subject:"):
                    subject = line[8:].strip().decode("utf-8", "replace")
                    break
            with lock:
                accepted[subject] = now
                state["count"] += 1
                if state["expect"] and state["count"] >= state["expect"]:
                    done.set()
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port, enable_SMTPUTF8=True)
    controller.start()
    control.send(("ready",))
    while True:
        cmd = control.recv()
        if cmd[0] == "reset":
            with lock:
                accepted.clear()
                state["count"], state["expect"] = 0, int(cmd[1])
                done.clear()
            control.send(("ok",))
        elif cmd[0] == "wait":
            done.wait(float(cmd[1]))
            with lock:
                control.send(("accepted", dict(accepted)))
        elif cmd[0] == "count":
            with lock:
                control.send(("count", state["count"], len(accepted)))
        else:
            controller.stop()
            control.send(("stopped",))
            return


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=smtp_server_main, args=(port, child), daemon=True)

    def start(self) -> None:
        self.proc.start()
        assert self.conn.recv()[0] == "ready"

    async def _call(self, *cmd: Any) -> Any:
        def call() -> Any:
            self.conn.send(cmd)
            return self.conn.recv()

        return await asyncio.to_thread(call)

    async def reset(self, expect: int) -> None:
        await self._call("reset", expect)

    async def wait(self, timeout: float) -> dict[str, float]:
        return (await self._call("wait", timeout))[1]  # type: ignore[no-any-return]

    async def duplicates(self) -> int:
        """DATA commands accepted beyond one per distinct Subject since the last reset."""
        _, count, distinct = await self._call("count")
        return int(count) - int(distinct)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.send(("stop",))
            self.conn.recv()
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()


# ----------------------------------------------------------------------------------------------------
# servers, processes, CPU
# ----------------------------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds used during a block by each service role, the bench database's PostgreSQL backends,
    other processes of the run (``others``: the SMTP server, the load generator) and the machine (busy
    share of all cores)."""

    def __init__(
        self,
        services: list[ServiceProcess],
        conn: asyncpg.Connection,
        db: str,
        others: dict[str, int] | None = None,
    ) -> None:
        self.services, self.conn, self.db = services, conn, db
        self.others = others or {}
        self.by_role: dict[str, float] = {}
        self.by_other: dict[str, float] = {}
        self.postgres = self.machine = 0.0

    async def _pg(self) -> dict[int, float]:
        rows = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", self.db
        )
        return {r["pid"]: proc_cpu(r["pid"]) for r in rows}

    async def __aenter__(self) -> CpuMeter:
        self._s0 = [s.cpu() for s in self.services]
        self._o0 = {name: proc_cpu(pid) for name, pid in self.others.items()}
        self._pg0 = await self._pg()
        self._m0 = machine_busy()
        return self

    async def __aexit__(self, *exc: object) -> None:
        m1 = machine_busy()
        pg1 = await self._pg()
        for s, before in zip(self.services, self._s0, strict=True):
            after = s.cpu()
            used = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())
            self.by_role[s.role] = self.by_role.get(s.role, 0.0) + used
        self.postgres = sum(cpu - self._pg0.get(pid, 0.0) for pid, cpu in pg1.items())
        for name, pid in self.others.items():
            self.by_other[name] = proc_cpu(pid) - self._o0[name]
        busy, total = m1[0] - self._m0[0], m1[1] - self._m0[1]
        self.machine = busy / total if total else 0.0

    def line(self, n: int) -> str:
        parts = [f"{role} {cpu / n * 1000:.2f}" for role, cpu in self.by_role.items()]
        parts.append(f"postgres {self.postgres / n * 1000:.2f}")
        line = "CPU ms/message: " + ", ".join(parts)
        if self.by_other:
            line += " (" + ", ".join(f"{k} {cpu / n * 1000:.2f}" for k, cpu in self.by_other.items()) + ")"
        return line + f"; machine busy {self.machine:.0%}"


@contextlib.contextmanager
def py_spy(pids: dict[str, int], out: Path | None, seconds: float, rate: int = 100) -> Iterator[None]:
    if out is None:
        yield
        return
    out.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    spies = [
        subprocess.Popen(
            [
                exe,
                "record",
                "-p",
                str(pid),
                "--subprocesses",
                "-f",
                "raw",
                "-o",
                str(out / f"{name}.txt"),
                "-d",
                str(int(seconds) + 1),
                "--nonblocking",
                "-r",
                str(rate),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for name, pid in pids.items()
    ]
    try:
        yield
    finally:
        for spy in spies:
            try:
                spy.communicate(timeout=seconds + 20)
            except subprocess.TimeoutExpired:
                spy.kill()


# ----------------------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------------------


def email(i: int, prefix: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "crm@example.com", f"u{i}@example.com", f"{prefix} {i}"
    msg["Message-ID"] = f"<{uuid.uuid4()}@example.com>"
    msg.set_content(BODY)
    return msg


async def raw_rate(server: SmtpServer, n: int, connections: int) -> float:
    """aiosmtplib -> aiosmtpd: ``n`` messages over ``connections`` connections, each sequential."""
    await server.reset(n)
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port) for _ in range(connections)]
    for c in clients:
        await c.connect()
    counter = iter(range(n))

    async def run(smtp: aiosmtplib.SMTP) -> None:
        for i in counter:
            await smtp.send_message(email(i, "raw"))

    start = time.monotonic()
    await asyncio.gather(*(run(c) for c in clients))
    accepted = await server.wait(30)
    elapsed = max(accepted.values()) - start
    for c in clients:
        await c.quit()
    return len(accepted) / elapsed


async def bench(args: argparse.Namespace, servers: Servers, workdir: Path) -> None:
    import grpc
    import nats
    from crm.leads.v1 import events_pb2
    from crm.notify.v1 import notify_pb2, notify_pb2_grpc
    from crm_platform import embedded
    from crm_platform.auth import issue_dev_token
    from crm_platform.nats import ensure_stream
    from crm_platform.settings import DEV_SERVICE_TOKEN

    db = f"crm_bench_notify_{os.getpid()}"
    admin = await asyncpg.connect(servers.postgres)
    await admin.execute(f'DROP DATABASE IF EXISTS "{db}"')
    await admin.execute(f'CREATE DATABASE "{db}"')
    redis_url = with_redis_db(servers.redis, args.redis_db)
    http_port, grpc_port, smtp_port = embedded.free_port(), embedded.free_port(), embedded.free_port()
    env = {
        **os.environ,
        "NOTIFY_ENV": "dev",
        "NOTIFY_DATABASE_URL": with_database(servers.postgres, db, "asyncpg"),
        "NOTIFY_NATS_URL": servers.nats,
        "NOTIFY_REDIS_URL": redis_url,
        "NOTIFY_HTTP_PORT": str(http_port),
        "NOTIFY_GRPC_PORT": str(grpc_port),
        "NOTIFY_LOG_LEVEL": args.log_level,
        "CRM_BEAT_SCHEDULE": str(workdir / "beat-schedule"),
        "PYTHONUNBUFFERED": "1",
    }
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    migrate = subprocess.run(  # noqa: ASYNC221 (setup, before anything is measured)
        [sys.executable, "-m", "crm_notify", "migrate"], env=env, cwd=ROOT, capture_output=True
    )
    if migrate.returncode:
        raise RuntimeError(migrate.stdout.decode() + migrate.stderr.decode())
    smtp = SmtpServer(smtp_port)
    smtp.start()
    logs = Path(args.logs or workdir)
    logs.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    app = ServiceProcess("crm_notify", "app", ["app"], env, logs / "notify-app.log")
    workers = [
        ServiceProcess(
            "crm_notify",
            "worker",
            ["worker", f"--concurrency={args.concurrency}", "-n", f"bench{i}@%h"],
            env,
            logs / f"notify-worker-{i}.log",
        )
        for i in range(args.workers)
    ]  # fmt: skip
    beat = ServiceProcess("crm_notify", "beat", ["beat"], env, logs / "notify-beat.log")
    services = [app, *workers, beat]
    conn = await asyncpg.connect(with_database(servers.postgres, db))
    nc = None
    try:
        for s in services:
            s.start()
        base = f"http://127.0.0.1:{http_port}"
        await app.wait_ready(base)
        headers = {"authorization": f"Bearer {issue_dev_token()}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            r = await http.post(
                "/api/v1/providers",
                json={
                    "name": "bench-smtp",
                    "kind": "smtp",
                    "config": {"host": "127.0.0.1", "port": smtp_port, "from_address": "crm@example.com"},
                },
            )
            assert r.status_code == 201, r.text
            r = await http.put(
                "/api/v1/directory/users/bench-rep",
                json={"display_name": "Bench", "email": "rep@example.com"},
            )
            assert r.status_code == 200, r.text
            r = await http.post(
                "/api/v1/rules",
                json={
                    "name": "bench",
                    "event_subject": "crm.leads.lead.assigned",
                    "template_key": "lead_assigned",
                    "channel": "email",
                    "recipient": "owner",
                    "purpose": "service",
                },
            )
            assert r.status_code == 201, r.text
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
        stub = notify_pb2_grpc.NotifyServiceStub(channel)
        md = (("authorization", f"Bearer {DEV_SERVICE_TOKEN}"),)

        async def send_burst(n: int, prefix: str) -> tuple[float, float, dict[str, float]]:
            await smtp.reset(n)
            sem = asyncio.Semaphore(args.in_flight)

            async def one(i: int) -> None:
                async with sem:
                    await stub.SendNotification(
                        notify_pb2.SendNotificationRequest(
                            recipient=f"u{i}@example.com",
                            channel=notify_pb2.CHANNEL_EMAIL,
                            subject=f"{prefix} {i}",
                            body_text=BODY,
                            idempotency_key=f"{prefix}-{i}",
                        ),
                        metadata=md,
                    )

            start = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(n)))
            requested = time.monotonic() - start
            accepted = await smtp.wait(args.timeout)
            return start, requested, accepted

        # warm-up: workers import, connect, open SMTP connections (not measured)
        await send_burst(args.warmup, "warm")
        await asyncio.sleep(1.0)

        raw1 = raw_rate_n = 0.0
        raw1 = await raw_rate(smtp, args.raw_messages, 1)
        raw_rate_n = await raw_rate(smtp, args.raw_messages, args.raw_connections)
        raw = max(raw1, raw_rate_n)

        # 1. throughput
        meter = CpuMeter(
            services, conn, db, {"smtp server": smtp.proc.pid or 0, "load generator": os.getpid()}
        )
        pids = {"app": app.pid, **{f"worker{i}": w.pid for i, w in enumerate(workers)}}
        with py_spy(pids, Path(args.profile) if args.profile else None, args.spy_seconds, args.spy_rate):
            async with meter:
                start, requested, accepted = await send_burst(args.messages, "bench")
        smtp_dups = await smtp.duplicates()
        delivered = len(accepted)
        if delivered < args.messages:
            rows = await conn.fetch("SELECT status, count(*) AS n FROM message GROUP BY 1")
            print(f"warning: {delivered} of {args.messages} accepted; {[tuple(r) for r in rows]}")
        elapsed = max(accepted.values()) - start
        dispatch = delivered / elapsed
        # one transaction stamps one created_at on every message it queues (group commit)
        commits, rounds = await conn.fetchrow(
            "SELECT count(DISTINCT created_at), count(DISTINCT sent_at) FROM message"
            " WHERE idempotency_key LIKE '%:bench-%'"
        )
        dup = await conn.fetchval(
            "SELECT count(*) FROM (SELECT message_id FROM delivery_attempt GROUP BY 1 HAVING count(*) > 1) x"
        )

        # 1b. dispatch capacity: the burst is queued while the workers are stopped (SIGSTOP), then
        #     drained: SMTP accepts / (last accept - SIGCONT). The request path is out of this figure.
        for w in workers:
            w.signal_tree(signal.SIGSTOP)
        try:
            await smtp.reset(args.messages)
            sem = asyncio.Semaphore(args.in_flight)

            async def queued(i: int) -> None:
                async with sem:
                    await stub.SendNotification(
                        notify_pb2.SendNotificationRequest(
                            recipient=f"d{i}@example.com",
                            channel=notify_pb2.CHANNEL_EMAIL,
                            subject=f"drain {i}",
                            body_text=BODY,
                            idempotency_key=f"drain-{i}",
                        ),
                        metadata=md,
                    )

            await asyncio.gather(*(queued(i) for i in range(args.messages)))
            await asyncio.sleep(1.0)  # the app's relay and consumers settle
        finally:
            resumed = time.monotonic()
            for w in workers:
                w.signal_tree(signal.SIGCONT)
        drained = await smtp.wait(args.timeout)
        smtp_dups += await smtp.duplicates()
        drain = len(drained) / (max(drained.values()) - resumed) if drained else 0.0

        # 2. latency: lead.assigned at a steady pace -> SMTP accept of the rule's e-mail
        nc = await nats.connect(servers.nats)
        js = nc.jetstream()
        await ensure_stream(js, "leads")
        await smtp.reset(args.events)
        published: dict[str, float] = {}
        for _ in range(args.events):
            lead_id = str(uuid.uuid4())
            event = events_pb2.LeadAssigned(lead_id=lead_id, owner_id="bench-rep")
            published[f"New lead: {lead_id}"] = time.monotonic()
            await js.publish(
                "crm.leads.lead.assigned",
                event.SerializeToString(),
                stream="CRM_LEADS",
                headers={"Nats-Msg-Id": str(uuid.uuid4()), "Crm-Event-Type": "crm.leads.v1.LeadAssigned"},
            )
            await asyncio.sleep(1 / args.event_rate)
        got = await smtp.wait(args.timeout)
        latencies = sorted((got[s] - t) * 1000 for s, t in published.items() if s in got)

        print(f"servers: {servers.origin}; workers {args.workers} x prefork {args.concurrency}")
        print(f"raw aiosmtplib -> aiosmtpd, 1 connection       : {raw1:8.1f} msg/s")
        print(
            f"raw aiosmtplib -> aiosmtpd, {args.raw_connections} connections      : {raw_rate_n:8.1f} msg/s"
        )
        print(
            f"SendNotification -> SMTP accept                : {dispatch:8.1f} msg/s ({delivered} messages; "
            f"requests took {requested:.2f}s, {args.messages / requested:.0f} req/s)   "
            f"ratio {dispatch / raw:.0%} of the better raw"
        )
        print(f"  {meter.line(delivered)}; messages with >1 attempt: {dup}; duplicate e-mails: {smtp_dups}")
        print(
            f"  request transactions: {commits} ({args.messages / max(1, commits):.1f} messages each); "
            f"dispatch rounds (record transactions): {rounds} ({delivered / max(1, rounds):.1f} each)"
        )
        print(
            f"queued backlog -> SMTP accept (drain)          : {drain:8.1f} msg/s ({len(drained)} messages "
            f"queued while the workers were stopped)   ratio {drain / raw:.0%} of the better raw"
        )
        print(
            f"lead.assigned -> SMTP accept latency           : p50 {statistics.median(latencies):.1f} ms, "
            f"p99 {pct(latencies, 0.99):.1f} ms ({len(latencies)} of {args.events} events at "
            f"{args.event_rate}/s)"
        )
    finally:
        if nc is not None:
            await nc.close()
        for s in reversed(services):
            s.stop()
        smtp.stop()
        await conn.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--raw-messages", type=int, default=1000)
    parser.add_argument(
        "--raw-connections",
        type=int,
        default=0,
        help="connections of the concurrent raw baseline (default: SMTP pool size 4 x worker processes)",
    )
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--event-rate", type=float, default=20.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--workers", type=int, default=1, help="worker replicas (processes)")
    parser.add_argument("--concurrency", type=int, default=2, help="prefork children per worker")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--shared-nats", action="store_true")
    parser.add_argument("--profile", help="directory for py-spy raw stacks of app and workers")
    parser.add_argument("--spy-seconds", type=float, default=10.0)
    parser.add_argument("--spy-rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--log-level", default="WARNING", help="of the notify processes")
    parser.add_argument("--logs", help="directory for the service logs (default: a temporary one)")
    args = parser.parse_args()
    args.raw_connections = args.raw_connections or 4 * args.workers * args.concurrency
    with tempfile.TemporaryDirectory(prefix="notify-bench-") as tmp:
        servers = resolve_servers(Path(tmp), args.shared_nats)
        with servers.stack:
            asyncio.run(bench(args, servers, Path(tmp)))


if __name__ == "__main__":
    main()
