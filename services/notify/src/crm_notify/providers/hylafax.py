"""Fax through HylaFAX's client protocol (hfaxd, TCP 4559; FTP-like, so the stdlib ftplib speaks it).

Checked against a real hfaxd + faxq (Debian hylafax-server 6.0.7, no modem) by
services/notify/tests/integration/test_hylafax.py.

Submit, one session: ``USER`` (+ ``PASS`` when hfaxd answers 331), ``TYPE I``, then per document ``FORM``
PDF/PS/TIFF + ``STOT`` (the upload lands in a temporary file that the 226 reply names), ``JNEW``, ``JPARM``
(FROMUSER, DIALSTRING, LASTTIME, MAXDIALS, MAXTRIES, VRES, NOTIFY, JOBINFO = our message id, DOCUMENT per
upload), ``JSUBM``. What the real server showed:

* without ``FORM`` hfaxd files an upload as raw "data", which faxq never images (a PDF becomes no page);
* without ``LASTTIME`` the job's kill time stays hfaxd's relative default (3 h after 1970), so faxq fails the
  job at once with "Kill time expired";
* plain text is no fax document (sendfax converts it on the client with enscript): the body of a fax without
  attachments is set here as PostScript in Courier, which covers Latin-1 only; other scripts need a PDF;
* a user that hfaxd does not know gets 331 "Password required" like a known one (no user enumeration).

Status: ``JOB id`` + ``JPARM STATE`` / ``STATUS`` / ``ERRORCODE``. DONE -> delivered, FAILED -> undeliverable
with code "<errorcode> <status>" (e.g. "E345 Job aborted by request" after JKILL, "E325 Kill time expired"
when no modem took the job before LASTTIME), anything else (SUSPENDED, PENDING, SLEEPING, BLOCKED, READY,
ACTIVE) pending. Errors: no connection, 4xx replies and broken replies are transient; 5xx replies (530 wrong
password, a password the server wants and the configuration lacks, a refused parameter) are permanent.
ftplib is blocking, so every session runs in a thread.
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import re
import textwrap
from collections.abc import Callable, Collection
from typing import Any, TypeVar

from crm_notify.providers.base import (
    Accepted,
    DeliveryError,
    Document,
    Outbound,
    PermanentError,
    Receipt,
    TransientError,
)

T = TypeVar("T")

_FILE = re.compile(r"FILE:\s*([^\s)]+)")
_JOB = re.compile(r"jobid:\s*([^\s.]+)")
_ERRORCODE = re.compile(r"E\d+")
FINAL = {"DONE": "delivered", "FAILED": "undeliverable"}

# the page of plain-text faxes: A4 in points, Courier 10 pt, 80 columns x 60 lines
_PAGE_W, _PAGE_H, _MARGIN, _FONT, _LEADING, _COLUMNS = 595, 842, 56, 10, 12, 80
_LINES = (_PAGE_H - 2 * _MARGIN) // _LEADING


class HylafaxAdapter:
    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        # a bad number fails each send with a permanent "config" error rather than the construction (the
        # poller builds adapters outside its error handling); hfaxd itself checks none of the job's numbers
        # (it stores 999999 dials as 16959 and a resolution of -5 as 65531)
        self.config_errors: list[str] = []
        self.host = str(config.get("host", "127.0.0.1"))
        self.port = self._number(config, "port", 4559, range(1, 65536))
        self.user = str(config.get("user", "crm"))
        self.password = str(config.get("password") or "")
        self.timeout = float(config.get("timeout", 15.0))
        self.max_dials = self._number(config, "max_dials", 3, range(1, 100))
        self.max_tries = self._number(config, "max_tries", 3, range(1, 100))
        # how long HylaFAX may try before it gives the job up ("Kill time expired"); hfaxd counts in minutes
        self.kill_time_minutes = self._number(config, "kill_time_minutes", 180, range(1, 100 * 1440))
        self.resolution = self._number(config, "resolution", 196, (98, 196))  # lines/inch: normal or fine
        # hfaxd splits a command line longer than its buffer into two commands
        self.from_user = _param(str(config.get("from_user") or self.user))[:64]
        self.notify_address = _param(str(config.get("notify_address") or ""))[:200]

    def _number(self, config: dict[str, Any], key: str, default: int, allowed: Collection[int]) -> int:
        value = config.get(key, default)
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = -1
        if number in allowed:
            return number
        shown = f"{allowed.start}..{allowed.stop - 1}" if isinstance(allowed, range) else f"one of {allowed}"
        self.config_errors.append(f"{key} must be {shown}, not {value!r}")
        return default

    # -- protocol sessions (blocking; run in a thread) --------------------------------------------------

    def _connect(self) -> ftplib.FTP:
        ftp = ftplib.FTP(timeout=self.timeout)
        try:
            ftp.connect(self.host, self.port)
            resp = ftp.sendcmd(f"USER {self.user}")
            if resp.startswith("331"):
                if not self.password:
                    raise PermanentError(
                        f"hfaxd wants a password for user {self.user!r} and the provider has none",
                        code="auth",
                    )
                ftp.sendcmd(f"PASS {self.password}")
        except BaseException:
            ftp.close()
            raise
        return ftp

    def _session(self, work: Callable[[ftplib.FTP], T]) -> T:
        ftp = self._connect()
        try:
            return work(ftp)
        finally:
            try:
                ftp.quit()
            except Exception:
                ftp.close()

    def _submit(self, documents: list[tuple[str, bytes]], message: Outbound) -> str:
        def work(ftp: ftplib.FTP) -> str:
            ftp.voidcmd("TYPE I")
            paths = []
            for form, content in documents:
                ftp.sendcmd(f"FORM {form}")
                resp = ftp.storbinary("STOT", io.BytesIO(content))
                m = _FILE.search(resp)
                if not m:
                    raise TransientError(f"unexpected STOT reply: {resp}", code="protocol")
                paths.append(m.group(1))
            resp = ftp.sendcmd("JNEW")
            m = _JOB.search(resp)
            if not m:
                raise TransientError(f"JNEW did not return a job id: {resp}", code="protocol")
            job_id = m.group(1)
            try:
                for param in (
                    f'FROMUSER "{self.from_user}"',
                    f'DIALSTRING "{_param(message.recipient)}"',
                    f"LASTTIME {_ddhhmm(self.kill_time_minutes)}",
                    f"MAXDIALS {self.max_dials}",
                    f"MAXTRIES {self.max_tries}",
                    f"VRES {self.resolution}",
                    f'JOBINFO "{_param(message.message_id)}"',
                    *([f'NOTIFYADDR "{self.notify_address}"'] if self.notify_address else []),
                    'NOTIFY "none"',
                    *(f"DOCUMENT {path}" for path in paths),
                ):
                    ftp.sendcmd(f"JPARM {param}")
                ftp.sendcmd("JSUBM")
            except (ftplib.error_perm, ftplib.error_temp):
                try:  # an answered refusal: the job was not submitted, so do not leave it suspended in sendq
                    ftp.sendcmd(f"JDELE {job_id}")
                except Exception:
                    pass
                raise
            return job_id

        return self._session(work)

    def _status(self, job_id: str) -> Receipt:
        def work(ftp: ftplib.FTP) -> Receipt:
            try:
                ftp.sendcmd(f"JOB {job_id}")
            except ftplib.error_perm as exc:
                if "does not exist" not in str(exc):
                    raise
                # 500 Cannot set job N; job does not exist: removed from doneq (Debian's weekly faxqclean
                # keeps done jobs for 35 days) or a different spool
                raise PermanentError(f"hfaxd has no job {job_id}: {exc}", code="unknown-job") from None
            state = _value(ftp.sendcmd("JPARM STATE")).upper()
            status = _value(ftp.sendcmd("JPARM STATUS"))
            errorcode = _value(ftp.sendcmd("JPARM ERRORCODE"))
            raw = " ".join(x for x in (state, errorcode, status) if x)
            if state == "FAILED":
                code = errorcode if _ERRORCODE.fullmatch(errorcode) else state
                return Receipt(job_id, "undeliverable", code=_short(f"{code} {status}"), raw=raw)
            return Receipt(job_id, FINAL.get(state, "pending"), code=state, raw=raw)

        return self._session(work)

    # -- the adapter interface ---------------------------------------------------------------------------

    async def send(self, message: Outbound) -> Accepted:
        if self.config_errors:
            raise PermanentError(f"provider configuration: {'; '.join(self.config_errors)}", code="config")
        documents = _documents(message)
        try:
            job_id = await asyncio.to_thread(self._submit, documents, message)
        except (ftplib.Error, OSError, EOFError) as exc:
            raise _classify(exc) from None
        return Accepted((job_id,), 1, f"fax job {job_id} submitted ({len(documents)} document(s))")

    async def status(self, provider_message_id: str) -> Receipt:
        if self.config_errors:
            raise PermanentError(f"provider configuration: {'; '.join(self.config_errors)}", code="config")
        try:
            return await asyncio.to_thread(self._status, provider_message_id)
        except (ftplib.Error, OSError, EOFError) as exc:
            raise _classify(exc) from None

    async def close(self) -> None:
        return None


def _classify(exc: BaseException) -> DeliveryError:
    if isinstance(exc, ftplib.error_perm):  # 5xx: wrong password, refused parameter or document
        return PermanentError(f"hfaxd refused: {exc}", code=str(exc)[:3])
    if isinstance(exc, ftplib.error_temp):  # 4xx: e.g. 460 the scheduler did not take the job
        return TransientError(f"hfaxd: {exc}", code=str(exc)[:3])
    if isinstance(exc, ftplib.Error):  # a reply ftplib did not expect
        return TransientError(f"hfaxd: {type(exc).__name__}: {exc}", code="protocol")
    return TransientError(f"hfaxd: {type(exc).__name__}: {exc}", code="connection")


def _documents(message: Outbound) -> list[tuple[str, bytes]]:
    """(FORM, bytes) per document hfaxd should image: the attachments, or the text when there are none."""
    if message.attachments:
        return [_document(doc) for doc in message.attachments]
    if not message.text.strip():
        raise PermanentError("a fax needs a document or a text", code="empty")
    return [("PS", postscript(message.text))]


def _document(doc: Document) -> tuple[str, bytes]:
    content = doc.content
    if content.startswith(b"%PDF-"):
        return "PDF", content
    if content.startswith(b"%!"):
        return "PS", content
    if content[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF", content
    if doc.content_type.split(";")[0].strip().lower() == "text/plain":
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise PermanentError(f"{doc.filename} is not UTF-8 text", code="unsupported-document") from None
        return "PS", postscript(text)
    raise PermanentError(
        f"HylaFAX cannot fax {doc.filename} ({doc.content_type}): send PDF, PostScript, TIFF or plain text",
        code="unsupported-document",
    )


def postscript(text: str) -> bytes:
    """Plain text as PostScript pages (A4, Courier 10 pt, Latin-1, long lines wrapped at 80 columns)."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise PermanentError(
            f"fax text has characters outside Latin-1 ({text[exc.start : exc.end]!r}); send it as a PDF",
            code="unsupported-text",
        ) from None
    lines: list[str] = []
    for line in text.expandtabs(8).splitlines():
        lines.extend(textwrap.wrap(line, _COLUMNS, drop_whitespace=False) or [""])
    pages = [lines[i : i + _LINES] for i in range(0, len(lines), _LINES)] or [[]]
    out = [
        "%!PS-Adobe-3.0",
        "%%Creator: crm-notify",
        f"%%Pages: {len(pages)}",
        f"%%BoundingBox: 0 0 {_PAGE_W} {_PAGE_H}",
        "%%EndComments",
        "%%BeginProlog",
        "/Courier findfont dup length dict begin",
        "  {1 index /FID ne {def} {pop pop} ifelse} forall /Encoding ISOLatin1Encoding def",
        "currentdict end /Courier-Latin1 exch definefont pop",
        "/L { moveto show } bind def",
        "%%EndProlog",
    ]
    for number, page in enumerate(pages, 1):
        out += [f"%%Page: {number} {number}", f"/Courier-Latin1 findfont {_FONT} scalefont setfont"]
        for row, line in enumerate(page):
            if line.strip():
                y = _PAGE_H - _MARGIN - _FONT - row * _LEADING
                out.append(f"({_ps_string(line)}) {_MARGIN} {y} L")
        out.append("showpage")
    out.append("%%EOF")
    return ("\n".join(out) + "\n").encode("latin-1")


def _ps_string(line: str) -> str:
    parts = []
    for ch in line:
        if ch in "()\\":
            parts.append("\\" + ch)
        elif " " <= ch <= "~":
            parts.append(ch)
        else:
            parts.append(f"\\{ord(ch):03o}")
    return "".join(parts)


def _ddhhmm(minutes: int) -> str:
    return f"{minutes // 1440:02d}{minutes % 1440 // 60:02d}{minutes % 60:02d}"


def _param(value: str) -> str:
    """A JPARM string value: hfaxd reads it between double quotes, so no quotes or line breaks."""
    return "".join(ch for ch in value if ch != '"' and ch >= " ")


def _value(reply: str) -> str:
    """The value of a 213 reply; an empty value comes back as "213 " (no text after the code)."""
    return reply[4:].strip() if len(reply) > 3 and reply[3] in " -" else ""


def _short(text: str, limit: int = 40) -> str:
    return text.strip()[:limit].rstrip()
