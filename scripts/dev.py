#!/usr/bin/env python3
"""Run the whole CRM on this machine: what ``make run`` (and ``make migrate``) execute.

    uv run python scripts/dev.py            # servers + migrations + app/worker/beat of all five services
    uv run python scripts/dev.py migrate    # only create databases and run every service's migrations

Servers: ``CRM_POSTGRES_URL`` / ``CRM_NATS_URL`` / ``CRM_REDIS_URL`` when set (each independently), otherwise
real embedded servers from PyPI wheels (crm_platform.embedded) with their state in ``.run/`` on fixed dev
ports, so data survives restarts. Child output goes to ``.run/logs/<service>-<process>.log``.

Ctrl-C or SIGTERM stops every child (SIGTERM, then SIGKILL of its whole process group after a grace
period), then the embedded servers, and exits 0. Children also get SIGTERM from the kernel if this script
is killed outright (PR_SET_PDEATHSIG), so nothing is left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from crm_platform.embedded import (
    EmbeddedServer,
    EmbeddedServerError,
    parent_death_preexec,
    ping,
    start_nats,
    start_postgres,
    start_redis,
    wait_ready,
)

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
LOG_DIR = RUN_DIR / "logs"
HOST = "127.0.0.1"

# service, HTTP port, gRPC port; the redis db index is the position + 1 (db 0 stays free)
Services = tuple[tuple[str, int, int], ...]
SERVICES: Services = (
    ("leads", 8081, 50051),
    ("deals", 8082, 50052),
    ("billing", 8083, 50053),
    ("notify", 8084, 50054),
    ("telephony", 8085, 50055),
)
DEV_POSTGRES_PORT = 55432
DEV_NATS_PORT = 54222
DEV_REDIS_PORT = 56379
LONG_RUNNING = ("app", "worker", "beat")

GRACE_SECONDS = float(os.environ.get("CRM_DEV_GRACE_SECONDS", "15"))
READY_TIMEOUT = float(os.environ.get("CRM_DEV_READY_TIMEOUT", "180"))


class Shutdown(Exception):
    """Raised from the signal handler so that any blocking step unwinds into the cleanup path."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Failed(Exception):
    """Something did not start; the message says what and where its log is."""


def say(message: str = "") -> None:
    print(message, flush=True)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n".join(f"    | {line}" for line in text)


def rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------------------


@dataclass
class Servers:
    postgres_url: str  # admin URL (libpq form)
    nats_url: str
    redis_url: str
    embedded: list[EmbeddedServer] = field(default_factory=list)

    def stop(self) -> None:
        for server in reversed(self.embedded):
            try:
                server.stop()
                say(f"  stopped embedded {server.name}")
            except Exception as exc:
                say(f"  could not stop embedded {server.name}: {exc}")
        self.embedded.clear()


def _external(env_name: str) -> str | None:
    url = os.environ.get(env_name, "").strip()
    if not url:
        return None
    say(f"  {env_name} is set: using {redact(url)}")
    try:
        wait_ready(url, timeout=20)
    except EmbeddedServerError as exc:
        raise Failed(f"{env_name}={redact(url)} does not answer: {exc}") from exc
    return url


def start_servers(servers: Servers, *, bus: bool = True) -> None:
    """Fill ``servers`` (so a Ctrl-C half way still stops whatever was started). ``bus=False`` (migrate):
    PostgreSQL only; NATS and Redis are passed on only when their CRM_* URLs are set."""
    say("servers:")
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    LOG_DIR.mkdir(parents=True, exist_ok=True)

    url = _external("CRM_POSTGRES_URL")
    if url is None:
        say(f"  starting embedded PostgreSQL on {HOST}:{DEV_POSTGRES_PORT}, data in {rel(RUN_DIR)}/postgres")
        started = time.monotonic()
        pg = start_postgres(RUN_DIR / "postgres", DEV_POSTGRES_PORT, log_path=LOG_DIR / "postgres.log")
        servers.embedded.append(pg)
        say(f"    ready in {time.monotonic() - started:.1f}s")
        url = pg.url
    servers.postgres_url = url

    if not bus:
        servers.nats_url = os.environ.get("CRM_NATS_URL", "").strip()
        servers.redis_url = os.environ.get("CRM_REDIS_URL", "").strip()
        return

    url = _external("CRM_NATS_URL")
    if url is None:
        say(f"  starting embedded NATS + JetStream on {HOST}:{DEV_NATS_PORT}, store in {rel(RUN_DIR)}/nats")
        nats = start_nats(RUN_DIR / "nats", DEV_NATS_PORT, log_path=LOG_DIR / "nats.log")
        servers.embedded.append(nats)
        url = nats.url
    servers.nats_url = url

    url = _external("CRM_REDIS_URL")
    if url is None:
        say(f"  starting embedded Redis on {HOST}:{DEV_REDIS_PORT} (data in {rel(RUN_DIR / 'redis')})")
        redis = start_redis(RUN_DIR / "redis", DEV_REDIS_PORT, log_path=LOG_DIR / "redis.log")
        servers.embedded.append(redis)
        url = redis.url
    servers.redis_url = url


def redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def libpq_url(url: str) -> str:
    """``postgresql+asyncpg://...`` -> ``postgresql://...`` (asyncpg and psql want the plain scheme)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(scheme="postgresql"))


def with_path(url: str, path: str, scheme: str | None = None) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path=path, scheme=scheme or parts.scheme, fragment=""))


async def _ensure_databases(admin_url: str, names: list[str]) -> list[str]:
    import asyncpg  # the platform's driver

    created: list[str] = []
    conn = await asyncpg.connect(libpq_url(admin_url), timeout=20)
    try:
        rows = await conn.fetch("SELECT datname FROM pg_database")
        existing = {row["datname"] for row in rows}
        for name in names:
            if name in existing:
                continue
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # another runner raced us
                await conn.execute(f'CREATE DATABASE "{name}"')
                created.append(name)
    finally:
        await conn.close()
    return created


def ensure_databases(admin_url: str, names: list[str]) -> None:
    created = asyncio.run(_ensure_databases(admin_url, names))
    say(f"databases: {', '.join(names)}" + (f" (created {', '.join(created)})" if created else " (present)"))


# ------------------------------------------------------------------------------------------------------
# Service environment
# ------------------------------------------------------------------------------------------------------


def service_env(service: str, index: int, http_port: int, grpc_port: int, servers: Servers) -> dict[str, str]:
    prefix = service.upper()
    env = {
        f"{prefix}_DATABASE_URL": with_path(servers.postgres_url, f"/crm_{service}", "postgresql+asyncpg"),
        f"{prefix}_HTTP_PORT": str(http_port),
        f"{prefix}_GRPC_PORT": str(grpc_port),
        f"{prefix}_ENV": "dev",
    }
    if servers.nats_url:
        env[f"{prefix}_NATS_URL"] = servers.nats_url
    if servers.redis_url:
        env[f"{prefix}_REDIS_URL"] = with_path(servers.redis_url, f"/{index + 1}")
    return env


# Every child (and whatever it spawns) inherits this marker, so a later run can find what a killed
# supervisor left behind (PR_SET_PDEATHSIG only covers direct children that honour SIGTERM).
SUPERVISOR_MARKER = "CRM_DEV_SUPERVISOR"


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    env[SUPERVISOR_MARKER] = f"{RUN_DIR}:{os.getpid()}"
    return env


def _is_supervisor(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"dev.py" in cmdline


def reap_leftovers() -> None:
    """Kill processes a previous, killed ``dev.py`` (same .run dir) left behind."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    prefix = f"{SUPERVISOR_MARKER}={RUN_DIR}:".encode()
    victims: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(prefix):
                supervisor = item[len(prefix) :].decode(errors="replace")
                if not (supervisor.isdigit() and _is_supervisor(int(supervisor))):
                    victims.append(int(entry.name))
                break
    if not victims:
        return
    say(f"killing {len(victims)} processes left over from an earlier run: {victims}")
    for pid in victims:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------------------


@dataclass
class Child:
    service: str
    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def label(self) -> str:
        return f"{self.service}-{self.role}"


def spawn(service: str, role: str, env: dict[str, str]) -> Child:
    log_path = LOG_DIR / f"{service}-{role}.log"
    with open(log_path, "ab") as log:  # the child keeps its own copy of the fd
        argv = [sys.executable, "-m", f"crm_{service}", role]
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: Ctrl-C reaches us only, we stop children in order
            preexec_fn=parent_death_preexec(signal.SIGTERM),
        )
    return Child(service, role, popen, log_path)


def _alive(child: Child) -> bool:
    return child.popen.poll() is None


def _killpg(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop_children(children: list[Child], grace: float) -> None:
    running = [c for c in children if _alive(c)]
    if running:
        say(f"  stopping {len(running)} processes (SIGTERM, {grace:.0f}s grace)")
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            child.popen.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(c) for c in running) and time.monotonic() < deadline and not _hurry:
        time.sleep(0.1)
    for child in running:
        if _alive(child):
            say(f"  {child.label} did not stop in time: SIGKILL")
            _killpg(child.popen.pid, signal.SIGKILL)
    for child in children:
        child.popen.wait()
        # anything the child left in its process group (pool processes, grandchildren) goes too
        _killpg(child.popen.pid, signal.SIGKILL)
    children.clear()


def check_children(children: list[Child]) -> None:
    for child in children:
        code = child.popen.poll()
        if code is not None:
            tail = log_tail(child.log_path)
            raise Failed(f"{child.label} exited with code {code}; log {rel(child.log_path)}:\n{tail}")


def run_migrations(envs: dict[str, dict[str, str]], children: list[Child]) -> None:
    say("migrations:")
    started = time.monotonic()
    batch = [spawn(service, "migrate", child_env(env)) for service, env in envs.items()]
    children.extend(batch)
    while any(_alive(c) for c in batch):
        time.sleep(0.1)
    failed = [c for c in batch if c.popen.returncode != 0]
    for child in batch:
        children.remove(child)
    for child in batch:
        status = "ok" if child.popen.returncode == 0 else f"FAILED (exit {child.popen.returncode})"
        say(f"  {child.service:10} {status}  log {rel(child.log_path)}")
    if failed:
        details = "\n".join(f"{c.label}:\n{log_tail(c.log_path)}" for c in failed)
        raise Failed(f"migrations failed:\n{details}")
    say(f"  done in {time.monotonic() - started:.1f}s")


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((HOST, port)) == 0


def wait_for_readyz(children: list[Child], services: Services) -> None:
    pending = {service: http for service, http, _ in services}
    deadline = time.monotonic() + READY_TIMEOUT
    say(f"waiting for /readyz of {len(pending)} services (up to {READY_TIMEOUT:.0f}s)")
    while pending:
        check_children(children)
        for service, http in list(pending.items()):
            if ping(f"http://{HOST}:{http}/readyz", timeout=2):
                say(f"  {service:10} ready")
                del pending[service]
        if not pending:
            break
        if time.monotonic() > deadline:
            logs = ", ".join(rel(LOG_DIR / f"{s}-app.log") for s in pending)
            raise Failed(f"not ready after {READY_TIMEOUT:.0f}s: {', '.join(pending)}; see {logs}")
        time.sleep(0.25)


def dev_token() -> str:
    try:
        from crm_platform.auth import issue_dev_token
    except ImportError as exc:  # only while the platform is being written
        return f"(no dev token: crm_platform.auth.issue_dev_token is not importable: {exc})"
    return issue_dev_token()


def print_summary(servers: Servers, services: Services, started: float) -> None:
    rows = [("service", "REST", "gRPC", "metrics", "docs")]
    for service, http, grpc in services:
        base = f"http://{HOST}:{http}"
        rows.append((service, base, f"{HOST}:{grpc}", f"{base}/metrics", f"{base}/docs"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    say()
    say(f"CRM is up in {time.monotonic() - started:.1f}s")
    say()
    for row in rows:
        say(("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))).rstrip())
    say()
    kind = {s.name: "embedded" for s in servers.embedded}
    say(f"  postgres  {redact(servers.postgres_url)}  ({kind.get('postgres', 'external')})")
    say(f"  nats      {servers.nats_url}  ({kind.get('nats', 'external')})")
    say(f"  redis     {redact(servers.redis_url)}  ({kind.get('redis', 'external')})")
    say(f"  logs      {rel(LOG_DIR)}/<service>-<app|worker|beat|migrate>.log")
    say()
    token = dev_token()
    say("dev JWT (role admin, team dev; HS256 with the dev secret):")
    say(f"  {token}")
    say(f'  curl -H "Authorization: Bearer $TOKEN" http://{HOST}:{services[0][1]}/readyz')
    say()
    say("Ctrl-C stops everything.")


# ------------------------------------------------------------------------------------------------------
# Main
# ------------------------------------------------------------------------------------------------------


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# `uv run` re-sends the terminal's SIGINT to its child ~0.2s later; a repeat inside this window is that echo
# (or a double tap), not a request to skip the graceful shutdown.
_REPEAT_WINDOW = 1.5
_first_signal_at = 0.0
_hurry = False


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    global _first_signal_at
    _first_signal_at = time.monotonic()
    for sig in _STOP_SIGNALS:  # from now on signals only shorten the cleanup, they never abort it
        signal.signal(sig, _hurry_up)
    raise Shutdown(signum)


def _hurry_up(signum: int, frame: FrameType | None) -> None:
    global _hurry
    if _hurry or time.monotonic() - _first_signal_at < _REPEAT_WINDOW:
        return
    _hurry = True
    print(f"  {signal.Signals(signum).name} again: killing without waiting", flush=True)


def cleanup(children: list[Child], servers: Servers) -> None:
    # a further Ctrl-C while cleaning up cuts the grace period short instead of aborting the cleanup
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _hurry_up)
    stop_children(children, grace=GRACE_SECONDS)
    servers.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", nargs="?", default="run", choices=["run", "migrate"])
    parser.add_argument(
        "--services",
        default=os.environ.get("CRM_DEV_SERVICES", ""),
        help="comma-separated subset, e.g. leads,deals (default: all; env CRM_DEV_SERVICES)",
    )
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.services.split(",") if name.strip()]
    unknown = sorted(set(wanted) - {name for name, _, _ in SERVICES})
    if unknown:
        parser.error(f"unknown services {unknown}; known: {[name for name, _, _ in SERVICES]}")
    services: Services = tuple(row for row in SERVICES if not wanted or row[0] in wanted)
    os.chdir(ROOT)

    started = time.monotonic()
    servers = Servers("", "", "")
    children: list[Child] = []
    code = 0
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _raise_shutdown)
    try:
        reap_leftovers()
        if args.command == "run":
            busy = [p for _, http, grpc in services for p in (http, grpc) if port_in_use(p)]
            if busy:
                raise Failed(f"ports already in use: {busy} (is another `make run` still running?)")
        start_servers(servers, bus=args.command == "run")
        ensure_databases(servers.postgres_url, [f"crm_{s}" for s, _, _ in SERVICES])
        envs = {
            s: service_env(s, i, http, grpc, servers)
            for i, (s, http, grpc) in enumerate(SERVICES)
            if (s, http, grpc) in services
        }
        if args.command == "migrate":
            # "against the current environment": an explicit <SVC>_DATABASE_URL wins
            for service, env in envs.items():
                key = f"{service.upper()}_DATABASE_URL"
                if os.environ.get(key):
                    env[key] = os.environ[key]
        run_migrations(envs, children)
        if args.command == "run":
            say("starting app, worker and beat of every service:")
            for service, env in envs.items():
                full = child_env(env)
                for role in LONG_RUNNING:
                    children.append(spawn(service, role, full))
            say(f"  {len(children)} processes; logs in {rel(LOG_DIR)}/")
            wait_for_readyz(children, services)
            print_summary(servers, services, started)
            while True:
                check_children(children)
                time.sleep(0.5)
    except Shutdown as exc:
        say(f"\n{exc} received: shutting down")
        started = time.monotonic()
    except Failed as exc:
        say(f"\nERROR: {exc}")
        code = 1
    except EmbeddedServerError as exc:
        say(f"\nERROR starting a server: {exc}")
        code = 1
    finally:
        cleanup(children, servers)
    if code == 0 and args.command == "run":
        say(f"all stopped ({time.monotonic() - started:.1f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
