"""A small SMPP 3.4 SMSC simulator (stdlib asyncio), written independently of our ESME client.

It binds transmitters/receivers/transceivers, answers enquire_link, accepts submit_sm (decoding GSM-7 and
UCS-2 and reassembling UDH-concatenated parts), and sends a delivery receipt (deliver_sm, esm_class 0x04,
``id:... stat:DELIVRD``, TLVs receipted_message_id and message_state) to a bound receiver for each part.
Fault injection by destination: ``throttle[dest] = n`` answers the next n submits with ESME_RTHROTTLED
(0x58); ``invalid`` destinations get ESME_RINVDSTADR (0x0B); ``undeliverable`` ones get a UNDELIV receipt.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Any

GSM7 = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXT = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode("latin-1"), end + 1


def _gsm_decode(data: bytes) -> str:
    out, esc = [], False
    for b in data:
        if esc:
            out.append(GSM7_EXT.get(b, "?"))
            esc = False
        elif b == 0x1B:
            esc = True
        else:
            out.append(GSM7[b])
    return "".join(out)


@dataclass
class Submitted:
    destination: str
    source: str
    data_coding: int
    text: str
    message_id: str
    part: tuple[int, int, int] | None  # (ref, total, seq)


@dataclass
class Smsc:
    throttle: dict[str, int] = field(default_factory=dict)
    invalid: set[str] = field(default_factory=set)
    undeliverable: set[str] = field(default_factory=set)
    submitted: list[Submitted] = field(default_factory=list)
    messages: list[tuple[str, str]] = field(default_factory=list)  # reassembled (destination, text)
    statuses: list[int] = field(default_factory=list)
    receipts_sent: int = 0
    port: int = 0
    _next_id: int = 0x1000
    _parts: dict[tuple[str, int], dict[int, str]] = field(default_factory=dict)
    _receivers: list[asyncio.StreamWriter] = field(default_factory=list)
    _clients: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: Any = None
    _seq: int = 0

    async def start(self) -> Smsc:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._server.close()
        for w in list(self._clients):
            w.close()
        await asyncio.sleep(0)

    def provider(self, name: str = "smsc", priority: int = 10) -> dict[str, Any]:
        return {
            "name": name,
            "kind": "smpp",
            "priority": priority,
            "config": {
                "host": "127.0.0.1",
                "port": self.port,
                "system_id": "crm",
                "password": "secret",
                "source_addr": "CRM",
                "timeout": 5,
            },
        }

    @staticmethod
    def _pdu(command_id: int, status: int, seq: int, body: bytes = b"") -> bytes:
        return struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.append(writer)
        try:
            while True:
                length, command_id, _status, seq = struct.unpack(">IIII", await reader.readexactly(16))
                body = await reader.readexactly(length - 16) if length > 16 else b""
                if command_id in (0x01, 0x02, 0x09):  # bind_receiver / transmitter / transceiver
                    system_id, pos = _cstring(body, 0)
                    password, _ = _cstring(body, pos)
                    ok = system_id == "crm" and password == "secret"
                    writer.write(self._pdu(command_id | 0x80000000, 0 if ok else 0x0E, seq, b"SMSC\x00"))
                    if ok and command_id in (0x01, 0x09):
                        self._receivers.append(writer)
                elif command_id == 0x04:
                    writer.write(await self._submit(body, seq))
                elif command_id == 0x15:
                    writer.write(self._pdu(0x80000015, 0, seq))
                elif command_id == 0x06:
                    writer.write(self._pdu(0x80000006, 0, seq))
                    await writer.drain()
                    break
                elif command_id & 0x80000000:
                    pass  # deliver_sm_resp and friends
                else:
                    writer.write(self._pdu(0x80000000, 0x03, seq))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if writer in self._receivers:
                self._receivers.remove(writer)
            if writer in self._clients:
                self._clients.remove(writer)
            writer.close()

    async def _submit(self, body: bytes, seq: int) -> bytes:
        _, pos = _cstring(body, 0)
        source, pos = _cstring(body, pos + 2)
        dest, pos = _cstring(body, pos + 2)
        esm_class = body[pos]
        pos += 3
        _, pos = _cstring(body, pos)
        _, pos = _cstring(body, pos)
        data_coding, sm_length = body[pos + 2], body[pos + 4]
        sm = body[pos + 5 : pos + 5 + sm_length]
        if self.throttle.get(dest, 0) > 0:
            self.throttle[dest] -= 1
            self.statuses.append(0x58)
            return self._pdu(0x80000004, 0x58, seq)
        if dest in self.invalid:
            self.statuses.append(0x0B)
            return self._pdu(0x80000004, 0x0B, seq)
        part = None
        if esm_class & 0x40:
            udh_len = sm[0]
            udh, sm = sm[1 : 1 + udh_len], sm[1 + udh_len :]
            if udh[0] == 0x00:
                part = (udh[2], udh[3], udh[4])
        text = sm.decode("utf-16-be") if data_coding == 8 else _gsm_decode(sm)
        self._next_id += 1
        message_id = f"{self._next_id:08X}"
        self.submitted.append(Submitted(dest, source, data_coding, text, message_id, part))
        self.statuses.append(0)
        if part is None:
            self.messages.append((dest, text))
        else:
            parts = self._parts.setdefault((dest, part[0]), {})
            parts[part[2]] = text
            if len(parts) == part[1]:
                self.messages.append((dest, "".join(parts[i] for i in sorted(parts))))
        asyncio.get_running_loop().call_later(
            0.05, lambda: asyncio.ensure_future(self._receipt(dest, message_id))
        )
        return self._pdu(0x80000004, 0, seq, message_id.encode() + b"\x00")

    async def _receipt(self, dest: str, message_id: str) -> None:
        stat, state = ("UNDELIV", 5) if dest in self.undeliverable else ("DELIVRD", 2)
        text = f"id:{message_id} sub:001 dlvrd:001 submit date:2611251000 done date:2611251000 stat:{stat} err:000 text:"  # noqa: E501
        sm = text.encode()
        self._seq += 1
        body = (
            b"\x00"
            + bytes((1, 1))
            + dest.encode()
            + b"\x00"
            + bytes((5, 0))
            + b"CRM\x00"
            + bytes((0x04, 0, 0))
            + b"\x00\x00"
            + bytes((0, 0, 0, 0, len(sm)))
            + sm
            + struct.pack(">HH", 0x001E, len(message_id) + 1)
            + message_id.encode()
            + b"\x00"
            + struct.pack(">HHB", 0x0427, 1, state)
        )
        for writer in list(self._receivers):
            try:
                writer.write(self._pdu(0x00000005, 0, 0x7000 + self._seq, body))
                await writer.drain()
                self.receipts_sent += 1
                return
            except ConnectionError:
                continue
