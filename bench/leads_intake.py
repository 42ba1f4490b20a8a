"""Lead intake benchmark: sustained leads/s of the leads service beside a raw PostgreSQL baseline.

One run on one PostgreSQL server: a fresh database migrated with ``python -m crm_leads migrate`` for the
service, and a copy of it (CREATE DATABASE ... TEMPLATE) for the raw baseline; both dropped at the end.

1. raw baseline: INSERT one lead row + INSERT one outbox_event row in one transaction, asyncpg pool of 8,
   measured right before each path so both see the same machine load;
2. the leads service as a real process (``python -m crm_leads app``: uvicorn + grpc.aio + outbox relay
   publishing to JetStream), with 5 reps and a round-robin assignment rule created through its REST API,
   driven from this process (aiohttp, grpc.aio) through
   - REST single create   ``POST /api/v1/leads``
   - REST batch           ``POST /api/v1/leads:batch``
   - gRPC batch           ``crm.leads.v1.LeadsService/BatchCreateLeads``;
3. p50/p99 latency of REST single create under that load.

"Sustained" = leads created in the measured window / (window + time the outbox relay then needs to
publish the backlog to JetStream), so an intake rate the relay cannot follow is not counted.
Every path starts from empty lead tables (as the raw baseline does). Figures are ratios, never
assertions: see bench/README.md.

    uv run python bench/leads_intake.py [--seconds 10] [--paths rest_single,grpc_batch] [--profile DIR]

Servers: CRM_POSTGRES_URL / CRM_REDIS_URL, else embedded ones (crm_platform.embedded); NATS is a private
embedded server unless --shared-nats (then CRM_NATS_URL). Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import grpc
import httpx
import nats
from crm.common.v1 import contact_point_pb2
from crm.leads.v1 import leads_pb2, leads_pb2_grpc
from crm_platform import embedded
from crm_platform.auth import issue_dev_token
from crm_platform.settings import DEV_SERVICE_TOKEN
from nats.js.errors import NotFoundError

ROOT = Path(__file__).resolve().parents[1]
REPS = [f"bench-rep-{i}" for i in range(1, 6)]
# Tables that hold configuration (kept between phases); everything else is emptied before each phase.
KEEP_TABLES = {
    "alembic_version",
    "rep",
    "assignment_rule",
    "assignment_pool_state",
    "custom_field_def",
    "lead_source",
}
TARGETS = {"rest_single": 0.25, "rest_batch": 0.60, "grpc_batch": 0.60}


# ----------------------------------------------------------------------------------------------------
# servers and the database
# ----------------------------------------------------------------------------------------------------


@dataclass
class Servers:
    postgres: str  # admin libpq URL
    nats: str
    redis: str
    origin: str
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


def resolve_servers(workdir: Path, shared_nats: bool) -> Servers:
    """PostgreSQL and Redis from CRM_*_URL, else embedded. NATS is a private embedded server unless
    ``shared_nats``: test sessions on a shared server delete every CRM_* stream when a test starts
    (crm_platform.testing.harness.reset_nats), which would pull CRM_LEADS from under the running relay."""
    env = {k: os.environ.get(f"CRM_{k.upper()}_URL", "") for k in ("postgres", "nats", "redis")}
    if not shared_nats:
        env["nats"] = ""
    servers = Servers(env["postgres"], env["nats"], env["redis"], "")
    origin = []
    if not servers.postgres:
        pg = embedded.start_postgres(workdir / "pg", embedded.free_port())
        servers.stack.callback(pg.stop)
        servers.postgres = pg.url
    if not servers.nats:
        ns = embedded.start_nats(workdir / "nats", embedded.free_port())
        servers.stack.callback(ns.stop)
        servers.nats = ns.url
    if not servers.redis:
        rs = embedded.start_redis(workdir / "redis", embedded.free_port(), persist=False)
        servers.stack.callback(rs.stop)
        servers.redis = rs.url
    for kind, url in (("PostgreSQL", servers.postgres), ("NATS", servers.nats), ("Redis", servers.redis)):
        where = "CRM_*_URL" if url in env.values() else "embedded"
        origin.append(f"{kind} {where}")
    servers.origin = ", ".join(origin)
    return servers


def with_database(url: str, database: str, driver: str | None = None) -> str:
    parts = urlsplit(url)
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, ""))


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


# ----------------------------------------------------------------------------------------------------
# generated leads (unique e-mails and phones; four leads per company, so duplicate links are made)
# ----------------------------------------------------------------------------------------------------

_seq = iter(range(1, 10**9))


def lead_json() -> dict[str, Any]:
    i = next(_seq)
    return {
        "first_name": f"Bench{i}",
        "last_name": "Lead",
        "company": f"Bench Company {i // 4}",
        "title": "Head of Operations",
        "emails": [f"lead{i}@bench{i % 97}.example.com"],
        "phones": [{"number": f"0912{i:07d}", "kind": "mobile"}],
        "source": "web",
        "campaign": "bench",
        "country": "IR",
        "city": "Isfahan",
        "industry": "software",
        "rating": "warm",
        "description": "generated by bench/leads_intake.py",
    }


def lead_proto() -> leads_pb2.LeadInput:
    d = lead_json()
    return leads_pb2.LeadInput(
        first_name=d["first_name"],
        last_name=d["last_name"],
        company=d["company"],
        title=d["title"],
        emails=d["emails"],
        phones=[
            contact_point_pb2.Phone(e164=p["number"], kind=contact_point_pb2.PHONE_KIND_MOBILE)
            for p in d["phones"]
        ],
        source=d["source"],
        campaign=d["campaign"],
        country=d["country"],
        industry=d["industry"],
        rating=d["rating"],
        description=d["description"],
    )


# ----------------------------------------------------------------------------------------------------
# measurement helpers
# ----------------------------------------------------------------------------------------------------


@dataclass
class Window:
    leads: int = 0
    requests: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    first_error: str = ""


async def drive(
    op: Callable[[], Awaitable[int]], concurrency: int, seconds: float, latencies: bool = False
) -> Window:
    """Run ``op`` (returns leads created) from ``concurrency`` loops for ``seconds``."""
    w = Window()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds

    async def one_loop() -> None:
        while loop.time() < end:
            t0 = time.perf_counter()
            try:
                n = await op()
            except Exception as exc:
                w.errors += 1
                w.first_error = w.first_error or f"{type(exc).__name__}: {exc}"[:500]
                await asyncio.sleep(0.05)
                continue
            if latencies:
                w.latencies.append(time.perf_counter() - t0)
            w.leads += n
            w.requests += 1

    start = loop.time()
    await asyncio.gather(*(one_loop() for _ in range(concurrency)))
    w.seconds = loop.time() - start
    return w


CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a local process has used; 0 if it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    try:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


class CpuMeter:
    """CPU used during a window by the service process, the PostgreSQL backends serving the bench
    database (when PostgreSQL runs on this machine) and the whole machine."""

    def __init__(self, conn: asyncpg.Connection, db_name: str, service_pid: int | None) -> None:
        self.conn, self.db_name, self.service_pid = conn, db_name, service_pid
        self.service = self.postgres = self.machine = 0.0

    async def _backends(self) -> dict[int, float]:
        rows = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", self.db_name
        )
        return {r["pid"]: proc_cpu(r["pid"]) for r in rows}

    async def __aenter__(self) -> CpuMeter:
        self._svc0 = proc_cpu(self.service_pid) if self.service_pid else 0.0
        self._pg0 = await self._backends()
        self._m0 = machine_busy()
        return self

    async def __aexit__(self, *exc: object) -> None:
        m1 = machine_busy()
        pg1 = await self._backends()
        self.service = (proc_cpu(self.service_pid) - self._svc0) if self.service_pid else 0.0
        self.postgres = sum(cpu - self._pg0.get(pid, 0.0) for pid, cpu in pg1.items())
        busy, total = m1[0] - self._m0[0], m1[1] - self._m0[1]
        self.machine = busy / total if total else 0.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ----------------------------------------------------------------------------------------------------
# raw baseline
# ----------------------------------------------------------------------------------------------------

RAW_LEAD = """
INSERT INTO lead (id, first_name, last_name, company, company_key, title, emails, phones, phone_numbers,
  national_id, messenger_id, website, street, city, region, postal_code, country, industry,
  annual_revenue, employee_count, source, source_id, intake_channel, campaign, status, status_changed_at,
  rating, qualified, owner_id, team, assigned_at, first_touch_at, last_contact_at, description,
  do_not_email, do_not_call, do_not_fax, custom_fields, score, merged_into_id, converted_at,
  created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, '', '', '', '', $10, '', '', $11, $12, NULL, NULL,
  $13, NULL, 'api', $14, 'new', $15, $16, false, NULL, 'dev', NULL, NULL, NULL, $17,
  false, false, false, '{}'::jsonb, NULL, NULL, NULL, $15, $15)
"""
RAW_OUTBOX = """
INSERT INTO outbox_event (id, subject, event_type, payload, headers, created_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6)
"""
EVENT_PAYLOAD = os.urandom(480)  # about the size of a serialised crm.leads.v1.LeadCreated


async def raw_baseline(
    db_url: str, concurrency: int, seconds: float, warmup: float, meter: CpuMeter
) -> Window:
    pool = await asyncpg.create_pool(db_url, min_size=concurrency, max_size=concurrency)
    try:

        async def op() -> int:
            d = lead_json()
            now = dt.datetime.now(dt.UTC)
            lead_id, event_id = uuid.uuid4(), uuid.uuid4()
            phone = "+98" + d["phones"][0]["number"][1:]
            headers = {
                "Nats-Msg-Id": str(event_id),
                "Crm-Event-Type": "crm.leads.v1.LeadCreated",
                "Crm-Occurred-At": now.isoformat(),
            }
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    RAW_LEAD,
                    lead_id,
                    d["first_name"],
                    d["last_name"],
                    d["company"],
                    d["company"].lower(),
                    d["title"],
                    d["emails"],
                    json.dumps([{"e164": phone, "kind": "mobile"}]),
                    [phone],
                    d["city"],
                    d["country"],
                    d["industry"],
                    d["source"],
                    d["campaign"],
                    now,
                    d["rating"],
                    d["description"],
                )
                await conn.execute(
                    RAW_OUTBOX,
                    event_id,
                    "crm.leads.lead.created",
                    "crm.leads.v1.LeadCreated",
                    EVENT_PAYLOAD,
                    json.dumps(headers),
                    now,
                )
            return 1

        await drive(op, concurrency, warmup)
        async with meter:
            return await drive(op, concurrency, seconds)
    finally:
        await pool.close()


# ----------------------------------------------------------------------------------------------------
# the service process
# ----------------------------------------------------------------------------------------------------


class LeadsProcess:
    def __init__(self, env: dict[str, str], log_path: Path, http_port: int, grpc_port: int) -> None:
        self.env = env
        self.log_path = log_path
        self.http_port = http_port
        self.grpc_port = grpc_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "crm_leads", "app"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.http_port}") as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"leads exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    r = await client.get("/readyz", timeout=2)
                    if r.status_code == 200:
                        return
                    last = r.text
                except httpx.HTTPError as exc:
                    last = str(exc)
                await asyncio.sleep(0.2)
        raise TimeoutError(f"leads not ready in {timeout}s ({last}):\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def py_spy(pid: int, out: Path | None, seconds: float) -> Iterator[None]:
    """Sample the service with py-spy (collapsed stacks, ``--idle`` off) while the block runs."""
    if out is None:
        yield
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    cmd = [exe, "record", "-p", str(pid), "-o", str(out), "-f", "raw", "-d", str(int(seconds) + 1)]
    spy = subprocess.Popen([*cmd, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        try:
            _, err = spy.communicate(timeout=seconds + 15)
            if spy.returncode:
                print(f"  py-spy failed: {err.decode(errors='replace').strip()[-300:]}")
        except subprocess.TimeoutExpired:
            spy.kill()


# ----------------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    label: str
    window: Window
    raw: Window | None = None  # the raw baseline measured just before this path
    drain: float = 0.0
    backlog: int = 0
    events_per_lead: float = 0.0
    relay_lag_p50: float = float("nan")
    relay_lag_p99: float = float("nan")
    owners: dict[str, int] = field(default_factory=dict)
    cpu: CpuMeter | None = None
    raw_cpu: CpuMeter | None = None

    @property
    def accepted(self) -> float:
        return self.window.leads / self.window.seconds if self.window.seconds else 0.0

    @property
    def sustained(self) -> float:
        total = self.window.seconds + self.drain
        return self.window.leads / total if total else 0.0

    @property
    def raw_rate(self) -> float:
        return self.raw.leads / self.raw.seconds if self.raw and self.raw.seconds else 0.0


async def reset_leads(conn: asyncpg.Connection) -> None:
    """Empty every table but the configuration ones (reps, rules, pool state, ...)."""
    names = [
        r["tablename"]
        for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if r["tablename"] not in KEEP_TABLES
    ]
    await conn.execute("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " CASCADE")
    await conn.execute("VACUUM ANALYZE")


async def unpublished(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM outbox_event WHERE published_at IS NULL"))


async def wait_drained(conn: asyncpg.Connection, timeout: float = 90.0) -> float:
    t0 = time.perf_counter()
    while await unpublished(conn):
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"outbox still has {await unpublished(conn)} unpublished rows")
        await asyncio.sleep(0.05)
    return time.perf_counter() - t0


async def measure_raw(args: argparse.Namespace, raw_conn: asyncpg.Connection) -> tuple[Window, CpuMeter]:
    await reset_leads(raw_conn)
    meter = CpuMeter(raw_conn, args.raw_db_name, None)
    window = await raw_baseline(args.raw_url, args.raw_concurrency, args.raw_seconds, 1.0, meter)
    return window, meter


async def run_phase(
    name: str,
    label: str,
    op: Callable[[], Awaitable[int]],
    concurrency: int,
    args: argparse.Namespace,
    conn: asyncpg.Connection,
    raw_conn: asyncpg.Connection,
    service: LeadsProcess,
) -> Result:
    # the raw baseline right before the path, while the service idles, so both see the same machine
    raw_window, raw_meter = await measure_raw(args, raw_conn)
    await reset_leads(conn)
    await drive(op, concurrency, args.warmup)
    await wait_drained(conn)
    await conn.execute("UPDATE outbox_event SET attempts = -1")  # warm-up rows: not measured
    warm_leads = int(await conn.fetchval("SELECT count(*) FROM lead"))
    assert service.proc is not None
    out = args.profile / f"{name}.txt" if args.profile else None
    meter = CpuMeter(conn, args.db_name, service.proc.pid)
    with py_spy(service.proc.pid, out, args.seconds):
        async with meter:
            window = await drive(op, concurrency, args.seconds, latencies=name == "rest_single")
    res = Result(name, label, window, raw=raw_window, cpu=meter, raw_cpu=raw_meter)
    res.backlog = await unpublished(conn)
    res.drain = await wait_drained(conn)
    if window.errors:
        print(f"  {name}: {window.errors} failed calls, first: {window.first_error}")
    leads = int(await conn.fetchval("SELECT count(*) FROM lead")) - warm_leads
    events = int(await conn.fetchval("SELECT count(*) FROM outbox_event WHERE attempts >= 0"))
    res.events_per_lead = events / leads if leads else 0.0
    lag = await conn.fetchrow(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at)),"
        " percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM published_at - created_at))"
        " FROM outbox_event WHERE attempts >= 0"
    )
    res.relay_lag_p50, res.relay_lag_p99 = float(lag[0] or 0), float(lag[1] or 0)
    rows = await conn.fetch("SELECT coalesce(owner_id, '-') AS o, count(*) AS n FROM lead GROUP BY 1")
    res.owners = {r["o"]: int(r["n"]) for r in rows}
    return res


async def run_migrate(env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "crm_leads",
        "migrate",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"migrate failed:\n{output.decode(errors='replace')}")


async def setup_assignment(base: str, headers: dict[str, str]) -> None:
    """5 reps and one round-robin rule over them, through the REST API."""
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        for rep in REPS:
            r = await client.put(f"/api/v1/reps/{rep}", json={"display_name": rep, "team": "bench"})
            r.raise_for_status()
        r = await client.post(
            "/api/v1/assignment-rules",
            json={"name": "bench round-robin", "position": 1, "strategy": "round_robin", "rep_ids": REPS},
        )
        r.raise_for_status()


async def bench(args: argparse.Namespace, servers: Servers, workdir: Path) -> None:
    tag = os.getpid()
    db_name = args.db_name = f"crm_bench_leads_{tag}"
    raw_db = args.raw_db_name = f"crm_bench_leads_raw_{tag}"
    admin = await asyncpg.connect(servers.postgres)
    for name in (db_name, raw_db):
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{db_name}"')
    redis_url = with_redis_db(servers.redis, args.redis_db)
    http_port, grpc_port = embedded.free_port(), embedded.free_port()
    env = {
        **os.environ,
        "LEADS_DATABASE_URL": with_database(servers.postgres, db_name, "asyncpg"),
        "LEADS_NATS_URL": servers.nats,
        "LEADS_REDIS_URL": redis_url,
        "LEADS_HTTP_HOST": "127.0.0.1",
        "LEADS_HTTP_PORT": str(http_port),
        "LEADS_GRPC_PORT": str(grpc_port),
        "LEADS_ENV": "dev",
    }
    if args.log_level:
        env["LEADS_LOG_LEVEL"] = args.log_level
    service = LeadsProcess(env, workdir / "leads.log", http_port, grpc_port)
    nc = await nats.connect(servers.nats)
    js = nc.jetstream()
    stream_existed = True
    try:
        await js.stream_info("CRM_LEADS")
    except NotFoundError:
        stream_existed = False
    conn: asyncpg.Connection | None = None
    raw_conn: asyncpg.Connection | None = None
    results: list[Result] = []
    t_start = time.perf_counter()
    try:
        t0 = time.perf_counter()
        await run_migrate(env)
        # the raw baseline runs on a copy of the migrated schema, so the service's relay never sees its rows
        await admin.execute(f'CREATE DATABASE "{raw_db}" TEMPLATE "{db_name}"')
        print(f"databases {db_name} (service) and {raw_db} (raw) migrated in {time.perf_counter() - t0:.1f}s")
        conn = await asyncpg.connect(with_database(servers.postgres, db_name))
        raw_conn = await asyncpg.connect(with_database(servers.postgres, raw_db))
        args.raw_url = with_database(servers.postgres, raw_db)

        service.start()
        await service.wait_ready()
        base = f"http://127.0.0.1:{http_port}"
        headers = {"authorization": f"Bearer {issue_dev_token()}"}
        await setup_assignment(base, headers)
        print(f"leads service up (pid {service.proc.pid if service.proc else '?'}), 5 reps, round-robin rule")

        md = (("authorization", f"Bearer {DEV_SERVICE_TOKEN}"),)
        # aiohttp drives the REST paths: httpx costs ~2 ms of client CPU per request here (measured with
        # an empty FastAPI endpoint), which made the load generator, not the service, the bottleneck
        async with (
            aiohttp.ClientSession(
                base_url=base,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=60),
                connector=aiohttp.TCPConnector(limit=64),
            ) as client,
            grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel,
        ):
            stub = leads_pb2_grpc.LeadsServiceStub(channel)

            async def rest_single() -> int:
                async with client.post("/api/v1/leads", json=lead_json()) as r:
                    if r.status != 201:
                        raise RuntimeError(f"{r.status} {(await r.text())[:300]}")
                    await r.read()
                return 1

            async def rest_batch() -> int:
                body = {"leads": [lead_json() for _ in range(args.batch)]}
                async with client.post("/api/v1/leads:batch", json=body) as r:
                    if r.status != 201:
                        raise RuntimeError(f"{r.status} {(await r.text())[:300]}")
                    return len((await r.json())["leads"])

            async def grpc_batch() -> int:
                req = leads_pb2.BatchCreateLeadsRequest(leads=[lead_proto() for _ in range(args.batch)])
                resp = await stub.BatchCreateLeads(req, metadata=md, timeout=60)
                return len(resp.leads)

            paths: dict[str, tuple[str, Callable[[], Awaitable[int]], int]] = {
                "rest_single": (f"REST single create, c={args.concurrency}", rest_single, args.concurrency),
                "rest_batch": (
                    f"REST batch of {args.batch}, c={args.batch_concurrency}",
                    rest_batch,
                    args.batch_concurrency,
                ),
                "grpc_batch": (
                    f"gRPC batch of {args.batch}, c={args.batch_concurrency}",
                    grpc_batch,
                    args.batch_concurrency,
                ),
            }
            for name in args.paths:
                label, op, concurrency = paths[name]
                res = await run_phase(name, label, op, concurrency, args, conn, raw_conn, service)
                results.append(res)
                print(f"{label}: {res.sustained:,.0f} leads/s (raw just before: {res.raw_rate:,.0f}/s)")
    except BaseException:
        print(f"--- last lines of the service log:\n{service.tail()}\n---", file=sys.stderr)
        raise
    finally:
        service.stop()
        for c in (conn, raw_conn):
            if c is not None:
                await c.close()
        for name in (db_name, raw_db):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if not stream_existed:
            with contextlib.suppress(Exception):
                await js.delete_stream("CRM_LEADS")
        await nc.close()
        with contextlib.suppress(Exception):
            import redis.asyncio as aioredis

            r = aioredis.from_url(redis_url)
            await r.delete(
                "leads",
                "_kombu.binding.leads",
                "_kombu.binding_permanent.leads",
                "_kombu.binding.leads.pidbox",
            )
            await r.aclose()
    report(results, args, servers, time.perf_counter() - t_start)
    if any(r.window.errors for r in results):
        sys.exit(1)


def report(results: list[Result], args: argparse.Namespace, servers: Servers, total: float) -> None:
    raws = [r.raw_rate for r in results if r.raw_rate]
    print()
    print(
        f"lead intake benchmark: {os.cpu_count()} CPUs shared by PostgreSQL, NATS, Redis, the service and"
        f" this load generator; servers: {servers.origin}; {args.seconds:.0f}s per path after"
        f" {args.warmup:.0f}s warm-up, raw baseline ({args.raw_seconds:.0f}s, asyncpg,"
        f" c={args.raw_concurrency}) measured right before each path"
    )
    print()
    head = f"{'path':<32} {'leads/s':>8} {'raw/s':>7} {'ratio':>6} {'target':>7}  {'':4}"
    print(head)
    print("-" * len(head))
    for r in results:
        ratio = r.sustained / r.raw_rate if r.raw_rate else 0.0
        target = TARGETS[r.name]
        verdict = "ok" if ratio >= target else "MISS"
        rates = f"{r.sustained:>8,.0f} {r.raw_rate:>7,.0f} {ratio:>6.2f}"
        print(f"{r.label:<32} {rates} {target:>6.0%}  {verdict:4}")
    if raws:
        print(
            f"raw INSERT lead + outbox_event, one tx: median {statistics.median(raws):,.0f}/s "
            f"(min {min(raws):,.0f}, max {max(raws):,.0f})"
        )
    single = next((r for r in results if r.name == "rest_single"), None)
    if single is not None:
        lat = single.window.latencies
        print(
            f"REST single create latency under load (c={args.concurrency}, {len(lat)} requests): "
            f"p50 {pct(lat, 0.5) * 1000:.1f} ms, p99 {pct(lat, 0.99) * 1000:.1f} ms"
        )
    print()
    print("leads/s = sustained: leads created in the window / (window + time the relay needed afterwards")
    print("to publish the outbox backlog to JetStream)")
    for r in results:
        counts = sorted(n for o, n in r.owners.items() if o != "-")
        fair = bool(counts) and max(counts) - min(counts) <= 1 and "-" not in r.owners
        print(
            f"{r.name:<12} accepted {r.accepted:,.0f}/s; outbox backlog at window end {r.backlog:,}, "
            f"drained in {r.drain:.1f}s; {r.events_per_lead:.1f} events/lead; event created->published "
            f"p50 {r.relay_lag_p50 * 1000:,.0f} ms p99 {r.relay_lag_p99 * 1000:,.0f} ms"
        )
        per = 1000 / r.window.leads if r.window.leads else 0.0
        raw_per = 1000 / r.raw.leads if r.raw and r.raw.leads else 0.0
        print(
            f"{'':12} CPU per lead: service {r.cpu.service * per if r.cpu else 0:.2f} ms, PostgreSQL "
            f"{r.cpu.postgres * per if r.cpu else 0:.2f} ms (raw: PostgreSQL "
            f"{r.raw_cpu.postgres * raw_per if r.raw_cpu else 0:.2f} ms); machine "
            f"{r.cpu.machine if r.cpu else 0:.0%} busy; owners {counts} "
            f"({'round-robin exact' if fair else 'NOT EXACT'})"
            + (f"; {r.window.errors} failed calls" if r.window.errors else "")
        )
        if r.cpu and r.window.leads and r.raw and r.raw.seconds:
            # what the machine's cores allow at this cost even if nothing else (NATS, the load
            # generator, the relay's acks) needed CPU: the bound a target above it cannot beat
            cost = (r.cpu.service + r.cpu.postgres) / r.window.leads
            cores = os.cpu_count() or 1
            ceiling = cores / cost if cost else 0.0
            raw_rate = r.raw.leads / r.raw.seconds
            print(
                f"{'':12} CPU ceiling: {cores} cores / {cost * 1000:.2f} ms (service + PostgreSQL) per "
                f"lead = {ceiling:,.0f} leads/s = {ceiling / raw_rate:.2f} of raw"
            )
    print(f"whole run {total:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per path")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured warm-up per path")
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="raw baseline window before each path")
    parser.add_argument("--raw-concurrency", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16, help="in-flight REST single creates")
    parser.add_argument("--batch", type=int, default=200, help="leads per batch request")
    parser.add_argument("--batch-concurrency", type=int, default=2, help="in-flight batch requests")
    parser.add_argument("--redis-db", type=int, default=15, help="Redis db for the service's Celery queue")
    parser.add_argument("--log-level", help="the service's LEADS_LOG_LEVEL (default: its own, INFO)")
    parser.add_argument(
        "--paths",
        type=lambda v: [p.strip() for p in v.split(",") if p.strip()],
        default=list(TARGETS),
        help=f"comma-separated subset of {','.join(TARGETS)}",
    )
    parser.add_argument(
        "--shared-nats",
        action="store_true",
        help="use CRM_NATS_URL instead of a private embedded NATS (tests elsewhere may delete CRM_LEADS)",
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy the service during each path into DIR/<path>.txt"
    )
    args = parser.parse_args()
    unknown = set(args.paths) - set(TARGETS)
    if unknown:
        parser.error(f"unknown paths: {', '.join(sorted(unknown))}")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load > (os.cpu_count() or 1):
        print(
            f"warning: load average {load:.1f} on {os.cpu_count()} CPUs before the run; figures will be low"
        )
    workdir = Path(tempfile.mkdtemp(prefix="crm-bench-leads-"))
    servers = resolve_servers(workdir, args.shared_nats)
    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(bench(args, servers, workdir))
        else:
            uvloop.run(bench(args, servers, workdir))
    finally:
        servers.stack.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
