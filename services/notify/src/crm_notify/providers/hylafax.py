"""Fax through HylaFAX's client protocol (hfaxd, TCP 4559; FTP-like, so the stdlib ftplib speaks it).

Submit: ``USER``/``PASS``, ``TYPE I``, ``STOT`` (upload the document to a temporary file), ``JNEW``,
``JPARM`` (DIALSTRING, DOCUMENT, JOBINFO = our message id, retry limits), ``JSUBM``. Status: ``JOB id`` +
``JPARM STATE`` -> DONE (delivered) / FAILED (undeliverable) / anything else pending. ftplib is blocking,
so every session runs in a thread.
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import re
from typing import Any

from crm_notify.providers.base import Accepted, Outbound, PermanentError, Receipt, TransientError

_FILE = re.compile(r"FILE:\s*(\S+?)\)?$")
_JOB = re.compile(r"jobid:\s*(\d+)")


class HylafaxAdapter:
    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.host = str(config.get("host", "127.0.0.1"))
        self.port = int(config.get("port", 4559))
        self.user = str(config.get("user", "crm"))
        self.password = str(config.get("password", ""))
        self.timeout = float(config.get("timeout", 15.0))
        self.max_dials = int(config.get("max_dials", 3))
        self.notify_address = str(config.get("notify_address", ""))

    def _connect(self) -> ftplib.FTP:
        ftp = ftplib.FTP(timeout=self.timeout)
        ftp.connect(self.host, self.port)
        resp = ftp.sendcmd(f"USER {self.user}")
        if resp.startswith("331"):
            ftp.sendcmd(f"PASS {self.password}")
        return ftp

    def _submit(self, message: Outbound) -> str:
        if message.attachments:
            doc = message.attachments[0].content
        else:
            doc = message.text.encode("utf-8")
        ftp = self._connect()
        try:
            ftp.sendcmd("TZONE LOCAL")
            ftp.voidcmd("TYPE I")
            resp = ftp.storbinary("STOT", io.BytesIO(doc))
            m = _FILE.search(resp.strip())
            if not m:
                raise TransientError(f"unexpected STOT reply: {resp}", code="protocol")
            path = m.group(1)
            m = _JOB.search(ftp.sendcmd("JNEW"))
            if not m:
                raise TransientError("JNEW did not return a job id", code="protocol")
            job_id = m.group(1)
            for param in (
                f'FROMUSER "{self.user}"',
                f'DIALSTRING "{message.recipient}"',
                f"MAXDIALS {self.max_dials}",
                f"MAXTRIES {self.max_dials}",
                f'JOBINFO "{message.message_id}"',
                *([f"NOTIFYADDR {self.notify_address}"] if self.notify_address else []),
                f"DOCUMENT {path}",
            ):
                ftp.sendcmd(f"JPARM {param}")
            ftp.sendcmd("JSUBM")
            return job_id
        finally:
            try:
                ftp.quit()
            except Exception:
                ftp.close()

    def _status(self, job_id: str) -> Receipt:
        ftp = self._connect()
        try:
            ftp.sendcmd(f"JOB {job_id}")
            state = ftp.sendcmd("JPARM STATE").split(None, 1)[-1].strip().upper()
            try:
                detail = ftp.sendcmd("JPARM STATUS").split(None, 1)[-1].strip()
            except ftplib.Error:
                detail = ""
        finally:
            try:
                ftp.quit()
            except Exception:
                ftp.close()
        status = {"DONE": "delivered", "FAILED": "undeliverable"}.get(state, "pending")
        return Receipt(job_id, status, code=state, raw=detail)

    async def send(self, message: Outbound) -> Accepted:
        try:
            job_id = await asyncio.to_thread(self._submit, message)
        except ftplib.error_perm as exc:
            raise PermanentError(f"hfaxd refused: {exc}", code=str(exc)[:3]) from None
        except (ftplib.Error, OSError, EOFError) as exc:
            raise TransientError(f"hfaxd: {type(exc).__name__}: {exc}", code="connection") from None
        return Accepted((job_id,), 1, "fax job submitted")

    async def status(self, provider_message_id: str) -> Receipt:
        try:
            return await asyncio.to_thread(self._status, provider_message_id)
        except (ftplib.Error, OSError, EOFError) as exc:
            raise TransientError(f"hfaxd: {exc}", code="connection") from None

    async def close(self) -> None:
        return None
