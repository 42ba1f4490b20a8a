"""A private HylaFAX (Debian's hylafax-server: faxq + hfaxd) for one test session.

Debian lays HylaFAX out as a spool (/var/spool/hylafax: bin/ scripts, etc/ = the configuration that the
systemd units bind-mount from /etc/hylafax, status/, sendq/, doneq/, docq/, tmp/, log/, the FIFO that faxq
creates and hfaxd writes to) plus the daemons faxq (the scheduler) and hfaxd (the client protocol). Here a
copy of that layout lives in a temporary directory owned by the fax user (uucp), and both daemons run on it
(``-q <spool>``), hfaxd on a free port of 127.0.0.1, in the foreground (``-D`` / ``-d``) so the fixture owns
them. Nothing of the system's own HylaFAX is used or touched, so a daemon the package may have started on
4559 does not matter.

There is no modem: faxq accepts a job and leaves it READY ("waiting for resources"), BLOCKED when another
job to the same number is waiting, until it is killed (JKILL: FAILED "Job aborted by request", E345) or its
kill time passes (FAILED "Kill time expired", E325). bin/notify, which faxq runs when a job ends, is replaced
by a script that appends its arguments to log/notify.log instead of mailing the job's owner.

hfaxd chroots into the spool and both daemons switch to uucp, so this needs root.
"""

from __future__ import annotations

import ftplib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAXQ = "/usr/sbin/faxq"
HFAXD = "/usr/sbin/hfaxd"
SYSTEM_SPOOL = Path("/var/spool/hylafax")
SYSTEM_CONFIG = Path("/etc/hylafax")
SPOOL_DIRS = "archive bin client config dev docq doneq etc info log pollq recvq sendq status tmp".split()

USER = "crm"  # may log in from 127.0.0.1 without a password; ADMIN <SECURE_PASSWORD> makes it privileged
SECURE_USER, SECURE_PASSWORD = "secure", "s3cret"  # must give its password
# crypt(3) MD5 hash of SECURE_PASSWORD (openssl passwd -1 -salt abcdefgh s3cret); hosts.hfaxd(5)
SECURE_HASH = "$1$abcdefgh$7.vq19w/w3Vm.hk1FOA7Q/"

NOTIFY_STUB = """#!/bin/sh
# test stub of HylaFAX's bin/notify: record the call instead of mailing the job's owner
echo "$*" >> log/notify.log
"""

FINAL_STATES = ("DONE", "FAILED")


def unavailable() -> str | None:
    """Why a private HylaFAX cannot run here (None when it can)."""
    missing = [p for p in (FAXQ, HFAXD) if not os.access(p, os.X_OK)]
    if missing or not SYSTEM_CONFIG.is_dir() or not (SYSTEM_SPOOL / "bin").is_dir():
        return (
            f"HylaFAX is not installed ({', '.join(missing) or SYSTEM_CONFIG} missing): scripts/install.sh "
            "installs Debian's hylafax-server with apt when it runs as root"
        )
    if os.geteuid() != 0:
        return "a private HylaFAX needs root: hfaxd chroots into its spool and both daemons switch to uucp"
    try:
        pwd.getpwnam("uucp")
    except KeyError:
        return "HylaFAX runs as the uucp user, which this system lacks"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Job:
    """A job as hfaxd reports it (JPARM values) and as faxq keeps it in the spool (q file, documents)."""

    id: str
    params: dict[str, str]
    documents: list[tuple[str, str]]  # (type as hfaxd names it: PDF/PS/TIFF, path in the spool)
    qfile: dict[str, str]


class HylafaxServer:
    def __init__(self) -> None:
        self.port = 0
        self.spool = Path()
        self._procs: list[subprocess.Popen[bytes]] = []

    # -- lifecycle ----------------------------------------------------------------------------------------

    def __enter__(self) -> HylafaxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        uucp = pwd.getpwnam("uucp")
        self.spool = Path(tempfile.mkdtemp(prefix="crm-hylafax-"))
        for name in SPOOL_DIRS:
            (self.spool / name).mkdir()
        shutil.copytree(SYSTEM_SPOOL / "bin", self.spool / "bin", dirs_exist_ok=True, symlinks=True)
        shutil.copytree(SYSTEM_SPOOL / "config", self.spool / "config", dirs_exist_ok=True, symlinks=True)
        shutil.copytree(SYSTEM_CONFIG, self.spool / "etc", dirs_exist_ok=True, symlinks=True)
        if (SYSTEM_SPOOL / "status" / "any.info").exists():
            shutil.copy(SYSTEM_SPOOL / "status" / "any.info", self.spool / "status")
        (self.spool / "bin" / "notify").unlink(missing_ok=True)
        (self.spool / "bin" / "notify").write_text(NOTIFY_STUB)
        (self.spool / "bin" / "notify").chmod(0o755)
        hosts = self.spool / "etc" / "hosts.hfaxd"
        hosts.write_text(
            "".join(
                f"^{user}@{host}$::{pw}:{admin}\n"  # client:uid:passwd:adminwd
                for user, pw, admin in ((USER, "", SECURE_HASH), (SECURE_USER, SECURE_HASH, ""))
                for host in (r"127\.0\.0\.1", "localhost")
            )
        )
        for path in [self.spool, *self.spool.rglob("*")]:
            os.lchown(path, uucp.pw_uid, uucp.pw_gid)
        hosts.chmod(0o600)  # hosts.hfaxd(5): readable by the fax user only
        (self.spool / "tmp").chmod(0o1777)
        self.port = free_port()
        try:
            self._spawn([FAXQ, "-D", "-q", str(self.spool)], "faxq")
            self._wait(lambda: (self.spool / "FIFO").exists(), "faxq did not create its FIFO")
            self._spawn(
                [HFAXD, "-d", "-q", str(self.spool), "-l", "127.0.0.1", "-i", str(self.port)], "hfaxd"
            )
            self._wait(self._answers, f"hfaxd did not answer on 127.0.0.1:{self.port}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)  # hfaxd's per-client children share its group
                except ProcessLookupError:
                    pass
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
        self._procs.clear()
        if self.spool != Path() and self.spool.is_dir():
            shutil.rmtree(self.spool, ignore_errors=True)

    def _spawn(self, argv: list[str], name: str) -> None:
        log = open(self.spool / "log" / f"{name}.out", "wb")
        proc = subprocess.Popen(
            argv, cwd=self.spool, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        self._procs.append(proc)

    def _wait(self, ready: Any, what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [p.args for p in self._procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"{what} (exited: {dead}); logs: {self.logs()}")
            time.sleep(0.05)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                return s.recv(100).startswith(b"220")
        except OSError:
            return False

    def logs(self) -> str:
        return " | ".join(
            f"{p.name}: {p.read_text(errors='replace').strip()}"
            for p in sorted((self.spool / "log").glob("*"))
        )

    # -- what a client and an operator see ----------------------------------------------------------------

    def provider(self, name: str = "fax-hylafax", **config: Any) -> dict[str, Any]:
        """The body of POST /api/v1/providers for this server."""
        return {
            "name": name,
            "kind": "hylafax",
            "config": {"host": "127.0.0.1", "port": self.port, "user": USER, "timeout": 10, **config},
        }

    def session(self, user: str = USER, password: str = "", admin: bool = False) -> ftplib.FTP:
        ftp = ftplib.FTP(timeout=10)
        try:
            ftp.connect("127.0.0.1", self.port)
            if ftp.sendcmd(f"USER {user}").startswith("331"):
                ftp.sendcmd(f"PASS {password}")
            if admin:  # the operator: may read and kill every user's jobs
                ftp.sendcmd(f"ADMIN {SECURE_PASSWORD}")
        except BaseException:
            ftp.close()
            raise
        return ftp

    def job(self, job_id: str) -> Job:
        ftp = self.session(admin=True)
        try:
            ftp.sendcmd(f"JOB {job_id}")
            params = {}
            for name in ("STATE", "STATUS", "ERRORCODE", "DIALSTRING", "JOBINFO", "OWNER", "LASTTIME"):
                params[name] = ftp.sendcmd(f"JPARM {name}")[4:].strip()
            # 213-PDF docq/doc4.pdf.4 ... 213 End of documents.
            documents = [
                tuple(line[4:].split(None, 1))
                for line in ftp.sendcmd("JPARM DOCUMENT").splitlines()
                if line.startswith("213-")
            ]
        finally:
            ftp.close()
        return Job(job_id, params, documents, self.qfile(job_id))  # type: ignore[arg-type]

    def qfile(self, job_id: str) -> dict[str, str]:
        for queue in ("sendq", "doneq"):
            path = self.spool / queue / f"q{job_id}"
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()
                return dict(line.split(":", 1) for line in lines if ":" in line) | {"queue": queue}
        return {}

    def document(self, spool_path: str) -> bytes:
        return (self.spool / spool_path.lstrip("/")).read_bytes()

    def kill(self, job_id: str) -> str:
        ftp = self.session(admin=True)
        try:
            return ftp.sendcmd(f"JKILL {job_id}")
        finally:
            ftp.close()

    def wait_state(self, job_id: str, *states: str, timeout: float = 15.0) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.params["STATE"] in states:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} is {job.params}, not {states}, after {timeout}s")
            time.sleep(0.2)

    def notified(self) -> list[str]:
        path = self.spool / "log" / "notify.log"
        return path.read_text().splitlines() if path.exists() else []


def pdf(text: str) -> bytes:
    """A valid one-page PDF (A4, Helvetica) with one line of ASCII text, as a rendered quote would be."""
    content = f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def fax_pages(document: bytes, workdir: Path) -> int:
    """How many G3 fax pages ghostscript makes of a PDF/PostScript document, as faxq's ps2fax/pdf2fax would
    (``gs -sDEVICE=tiffg3 -r204x196``); -1 when ghostscript is missing."""
    gs = shutil.which("gs")
    if gs is None:
        return -1
    source = workdir / "document"
    source.write_bytes(document)
    subprocess.run(
        [
            gs,
            "-q",
            "-dBATCH",
            "-dNOPAUSE",
            "-dSAFER",
            "-sDEVICE=tiffg3",
            "-r204x196",
            "-sPAPERSIZE=a4",
            f"-sOutputFile={workdir}/page%03d.tif",
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return len(list(workdir.glob("page*.tif")))
