"""E-mail over SMTP with aiosmtplib: SMTPUTF8 for non-ASCII addresses, text + HTML alternatives,
attachments, List-Unsubscribe for marketing. Each worker process keeps a pool of up to ``pool_size``
(default 4) open connections per provider, one message on a connection at a time, so that many messages
of a dispatch batch are in flight at once; an error drops the connection it happened on. 4xx replies and
connection problems are transient, 5xx permanent."""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import logging
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from crm_notify.providers.base import Accepted, Outbound, PermanentError, TransientError

log = logging.getLogger(__name__)


def _is_ascii(text: str) -> bool:
    return all(ord(c) < 128 for c in text)


def build_email(message: Outbound, sender: str, sender_name: str = "") -> EmailMessage:
    utf8 = not (_is_ascii(message.recipient) and _is_ascii(sender))
    msg = EmailMessage(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
    msg["From"] = email.utils.formataddr((sender_name, sender)) if sender_name else sender
    msg["To"] = message.recipient
    msg["Subject"] = message.subject
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = f"<{message.message_id}@{sender.rsplit('@', 1)[-1]}>"
    for name, value in message.headers.items():
        msg[name] = value
    msg.set_content(message.text or "")
    if message.html:
        msg.add_alternative(message.html, subtype="html")
    for doc in message.attachments:
        maintype, _, subtype = doc.content_type.partition("/")
        msg.add_attachment(
            doc.content,
            maintype=maintype or "application",
            subtype=subtype or "octet-stream",
            filename=doc.filename,
        )
    return msg


class SmtpAdapter:
    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.host = str(config.get("host", "127.0.0.1"))
        self.port = int(config.get("port", 25))
        self.username = config.get("username") or None
        self.password = config.get("password") or None
        self.use_tls = bool(config.get("use_tls", False))
        self.start_tls = config.get("start_tls")  # None: when offered
        self.sender = str(config.get("from_address", "crm@localhost"))
        self.sender_name = str(config.get("from_name", ""))
        self.timeout = float(config.get("timeout", 10.0))
        self.reuse = bool(config.get("reuse_connection", True))
        self.pool_size = max(1, int(config.get("pool_size", 4)))
        self._idle: list[aiosmtplib.SMTP] = []
        self._gate: asyncio.Semaphore | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
            username=self.username,
            password=self.password,
        )
        await smtp.connect()
        return smtp

    @staticmethod
    def _drop(smtp: aiosmtplib.SMTP | None) -> None:
        if smtp is not None:
            try:
                smtp.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                pass

    async def send(self, message: Outbound) -> Accepted:
        msg = build_email(message, self.sender, self.sender_name)
        utf8 = not (_is_ascii(message.recipient) and _is_ascii(self.sender))
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.pool_size)
        async with self._gate:
            smtp: aiosmtplib.SMTP | None = None
            while self._idle and smtp is None:
                candidate = self._idle.pop()
                if candidate.is_connected:
                    smtp = candidate
                else:
                    self._drop(candidate)
            try:
                if smtp is None:
                    smtp = await self._connect()
                errors, response = await smtp.send_message(  # noqa: RUF059
                    msg,
                    sender=self.sender,
                    recipients=[message.recipient],
                    mail_options=["SMTPUTF8"] if utf8 else None,
                )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._drop(smtp)
                refused = exc.recipients[0] if exc.recipients else None
                code = refused.code if refused is not None else 0
                raise _classify(code, refused.message if refused is not None else str(exc)) from None
            except aiosmtplib.SMTPNotSupported as exc:
                self._drop(smtp)
                raise PermanentError(
                    f"server does not support this message: {exc}", code="smtputf8"
                ) from None
            except aiosmtplib.SMTPResponseException as exc:
                self._drop(smtp)
                raise _classify(exc.code, exc.message) from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                self._drop(smtp)
                raise TransientError(f"{type(exc).__name__}: {exc}", code="connection") from None
            except BaseException:  # cancelled mid-conversation: the connection's state is unknown
                self._drop(smtp)
                raise
            if self.reuse:
                self._idle.append(smtp)
            else:
                self._drop(smtp)
        return Accepted((message.message_id,), 1, response)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for smtp in idle:
            if smtp.is_connected:
                try:
                    await smtp.quit()
                except Exception:
                    smtp.close()


def _classify(code: int, text: str) -> TransientError | PermanentError:
    detail = f"{code} {text}".strip()
    if 400 <= code < 500:
        return TransientError(detail, code=str(code))
    if code >= 500:
        return PermanentError(detail, code=str(code))
    return TransientError(detail, code=str(code))
