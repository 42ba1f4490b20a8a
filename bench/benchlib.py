"""What the benchmarks share: servers (CRM_*_URL or embedded), URLs, service processes started as
`make run` starts them, CPU readings from /proc and percentiles. Imported by the bench scripts, which
run as `python bench/<name>.py` (this folder is then first on sys.path)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# ----------------------------------------------------------------------------------------------------
# servers and URLs
# ----------------------------------------------------------------------------------------------------


@dataclass
class Servers:
    postgres: str  # admin libpq URL
    nats: str
    redis: str
    origin: str = ""
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)


def resolve_servers(workdir: Path, shared_nats: bool) -> Servers:
    """PostgreSQL and Redis from CRM_*_URL, else embedded. NATS is a private embedded server unless
    ``shared_nats``: test sessions on a shared server delete every CRM_* stream when a test starts
    (crm_platform.testing.harness.reset_nats), which would pull a stream from under the running relay."""
    from crm_platform import embedded

    env = {k: os.environ.get(f"CRM_{k.upper()}_URL", "") for k in ("postgres", "nats", "redis")}
    if not shared_nats:
        env["nats"] = ""
    s = Servers(env["postgres"], env["nats"], env["redis"])
    if not s.postgres:
        pg = embedded.start_postgres(workdir / "pg", embedded.free_port())
        s.stack.callback(pg.stop)
        s.postgres = pg.url
    if not s.nats:
        ns = embedded.start_nats(workdir / "nats", embedded.free_port())
        s.stack.callback(ns.stop)
        s.nats = ns.url
    if not s.redis:
        rs = embedded.start_redis(workdir / "redis", embedded.free_port(), persist=False)
        s.stack.callback(rs.stop)
        s.redis = rs.url
    s.origin = ", ".join(
        f"{kind} {'CRM_*_URL' if url in env.values() else 'embedded'}"
        for kind, url in (("PostgreSQL", s.postgres), ("NATS", s.nats), ("Redis", s.redis))
    )
    return s


def with_database(url: str, database: str, driver: str | None = None) -> str:
    parts = urlsplit(url)
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return urlunsplit((scheme, parts.netloc, f"/{database}", parts.query, ""))


def with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


# ----------------------------------------------------------------------------------------------------
# CPU readings and percentiles
# ----------------------------------------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a local process has used; 0 if it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def tree(pid: int) -> list[int]:
    """The process and its descendants (e.g. Celery's prefork children)."""
    try:
        kids = [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        kids = []
    out = [pid]
    for kid in kids:
        out.extend(tree(kid))
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    try:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return float(sum(values) - idle), float(sum(values))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# ----------------------------------------------------------------------------------------------------
# a service process
# ----------------------------------------------------------------------------------------------------


class ServiceProcess:
    """``python -m <package> <argv>`` in its own session, its output in ``log``."""

    def __init__(self, package: str, role: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.package, self.role, self.argv, self.env, self.log = package, role, argv, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.package, *self.argv],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> dict[int, float]:
        return {p: proc_cpu(p) for p in tree(self.pid)}

    def tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    async def wait_ready(self, base_url: str, timeout: float = 90.0) -> None:
        """Until ``GET /readyz`` answers 200; fails at once if the process exits."""
        deadline = time.monotonic() + timeout
        last = ""
        async with httpx.AsyncClient(base_url=base_url) as client:
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.package} {self.role} exited:\n{self.tail()}")
                try:
                    r = await client.get("/readyz", timeout=2)
                    if r.status_code == 200:
                        return
                    last = r.text
                except httpx.HTTPError as exc:
                    last = str(exc)
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.package} {self.role} not ready in {timeout}s ({last}):\n{self.tail()}")

    def signal_tree(self, sig: signal.Signals) -> None:
        for pid in tree(self.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def terminate(self) -> None:
        """SIGCONT the tree (a stopped process cannot act on SIGTERM), then SIGTERM the session."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal_tree(signal.SIGCONT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)

    def wait_stopped(self, timeout: float = 20.0) -> None:
        """Until the process has exited; SIGKILLs its session after ``timeout`` seconds."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        self.terminate()
        self.wait_stopped()


def stop_all(services: list[ServiceProcess]) -> None:
    """Stop several processes at once: SIGTERM to all, then wait for each (SIGKILL after 20 s)."""
    for service in services:
        service.terminate()
    for service in services:
        service.wait_stopped()
