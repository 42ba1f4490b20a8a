"""A real SMTP server (aiosmtpd, own thread) whose RCPT replies can be scripted per recipient."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes
    smtputf8: bool

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.SMTPUTF8)  # type: ignore[return-value]


@dataclass
class ScriptedHandler:
    # recipient -> replies for its next RCPTs ("451 ...", "550 ..."); then accepted
    script: dict[str, list[str]] = field(default_factory=dict)
    always: dict[str, str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    rcpt_log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self.lock:
            if address in self.always:
                reply = self.always[address]
            elif self.script.get(address):
                reply = self.script[address].pop(0)
            else:
                reply = "250 OK"
            self.rcpt_log.append((address, reply))
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(data), bool(envelope.smtp_utf8))
            )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.recipients]


class SmtpPeer:
    def __init__(self) -> None:
        self.handler = ScriptedHandler()
        self.port = free_port()
        self.controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=50 * 1024 * 1024,
        )

    def __enter__(self) -> SmtpPeer:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()

    def provider(self, name: str = "smtp-main", priority: int = 10, **config: Any) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "smtp",
            "priority": priority,
            "config": {
                "host": "127.0.0.1",
                "port": self.port,
                "from_address": "crm@example.com",
                "from_name": "CRM",
                "timeout": 5,
                **config,
            },
        }
