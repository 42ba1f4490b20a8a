"""SMS over SMPP 3.4 with a small asyncio ESME (no threads): bind, submit_sm (concatenated with a UDH
when the text needs several segments), enquire_link, deliver_sm delivery receipts, unbind.

Status classification: ESME_RTHROTTLED (0x58), ESME_RMSGQFUL (0x14), ESME_RSYSERR (0x08) and connection
problems are transient; everything else (e.g. ESME_RINVDSTADR 0x0B) is permanent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from crm_notify.providers import segments
from crm_notify.providers.base import Accepted, Outbound, PermanentError, Receipt, TransientError

log = logging.getLogger(__name__)

BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
GENERIC_NACK = 0x80000000
RESP = 0x80000000

ESME_ROK = 0x00
ESME_RSYSERR = 0x08
ESME_RINVDSTADR = 0x0B
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
TRANSIENT_STATUSES = frozenset({ESME_RSYSERR, ESME_RMSGQFUL, ESME_RTHROTTLED})
STATUS_NAMES = {
    0x00: "ESME_ROK",
    0x08: "ESME_RSYSERR",
    0x0A: "ESME_RINVSRCADR",
    0x0B: "ESME_RINVDSTADR",
    0x0D: "ESME_RBINDFAIL",
    0x0E: "ESME_RINVPASWD",
    0x14: "ESME_RMSGQFUL",
    0x45: "ESME_RSUBMITFAIL",
    0x58: "ESME_RTHROTTLED",
}
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
# message_state values (SMPP 3.4 section 5.2.28)
DELIVERED_STATES = {2}
FAILED_STATES = {3, 4, 5, 8}  # expired, deleted, undeliverable, rejected
DLR_STAT = re.compile(r"stat:(\w+)")
DLR_ID = re.compile(r"id:(\S+)")
DLR_ERR = re.compile(r"err:(\w+)")


@dataclass
class Pdu:
    command_id: int
    status: int
    sequence: int
    body: bytes = b""

    def encode(self) -> bytes:
        return (
            struct.pack(">IIII", 16 + len(self.body), self.command_id, self.status, self.sequence) + self.body
        )


def cstr(value: str) -> bytes:
    return value.encode("latin-1", "replace") + b"\x00"


def read_cstr(body: bytes, offset: int) -> tuple[str, int]:
    end = body.index(b"\x00", offset)
    return body[offset:end].decode("latin-1"), end + 1


@dataclass
class ShortMessage:
    """Fields of a submit_sm / deliver_sm we care about."""

    source_addr: str = ""
    destination_addr: str = ""
    esm_class: int = 0
    registered_delivery: int = 0
    data_coding: int = 0
    short_message: bytes = b""
    source_ton: int = 1
    source_npi: int = 1
    dest_ton: int = 1
    dest_npi: int = 1
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        body = b"".join(
            [
                cstr(""),  # service_type
                struct.pack(">BB", self.source_ton, self.source_npi),
                cstr(self.source_addr),
                struct.pack(">BB", self.dest_ton, self.dest_npi),
                cstr(self.destination_addr),
                struct.pack(">BBB", self.esm_class, 0, 0),  # esm_class, protocol_id, priority_flag
                cstr(""),  # schedule_delivery_time
                cstr(""),  # validity_period
                struct.pack(
                    ">BBBBB", self.registered_delivery, 0, self.data_coding, 0, len(self.short_message)
                ),
                self.short_message,
            ]
        )
        for tag, value in self.tlvs.items():
            body += struct.pack(">HH", tag, len(value)) + value
        return body

    @classmethod
    def decode(cls, body: bytes) -> ShortMessage:
        _, o = read_cstr(body, 0)
        source_ton, source_npi = body[o], body[o + 1]
        source, o = read_cstr(body, o + 2)
        dest_ton, dest_npi = body[o], body[o + 1]
        dest, o = read_cstr(body, o + 2)
        esm_class = body[o]
        o += 3
        _, o = read_cstr(body, o)
        _, o = read_cstr(body, o)
        registered, _, data_coding, _, length = body[o : o + 5]
        o += 5
        sm = body[o : o + length]
        o += length
        tlvs: dict[int, bytes] = {}
        while o + 4 <= len(body):
            tag, size = struct.unpack(">HH", body[o : o + 4])
            tlvs[tag] = body[o + 4 : o + 4 + size]
            o += 4 + size
        return cls(
            source,
            dest,
            esm_class,
            registered,
            data_coding,
            sm,
            source_ton,
            source_npi,
            dest_ton,
            dest_npi,
            tlvs,
        )


def parse_receipt(sm: ShortMessage) -> Receipt | None:
    """A delivery receipt (esm_class bit 2) as a Receipt; None for an ordinary mobile-originated SMS."""
    if not sm.esm_class & 0x04:
        return None
    text = sm.short_message.decode("latin-1", "replace")
    ident = sm.tlvs.get(TLV_RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode("latin-1")
    if not ident:
        m = DLR_ID.search(text)
        ident = m.group(1) if m else ""
    state = sm.tlvs.get(TLV_MESSAGE_STATE)
    stat_m = DLR_STAT.search(text)
    stat = stat_m.group(1).upper() if stat_m else ""
    err_m = DLR_ERR.search(text)
    if state is not None and state:
        status = (
            "delivered"
            if state[0] in DELIVERED_STATES
            else "undeliverable"
            if state[0] in FAILED_STATES
            else "pending"
        )
    else:
        status = {
            "DELIVRD": "delivered",
            "UNDELIV": "undeliverable",
            "EXPIRED": "undeliverable",
            "REJECTD": "undeliverable",
            "DELETED": "undeliverable",
        }.get(stat, "pending")
    return Receipt(ident, status, code=(err_m.group(1) if err_m else stat), raw=text)


class SmppError(Exception):
    def __init__(self, status: int, where: str) -> None:
        self.status = status
        name = STATUS_NAMES.get(status, "")
        super().__init__(f"{where}: command_status 0x{status:08X} {name}".strip())


ReceiptHandler = Callable[[Receipt], Awaitable[None]]


class SmppClient:
    """One SMPP session. Responses are matched to requests by sequence number."""

    def __init__(
        self, host: str, port: int, *, timeout: float = 10.0, on_receipt: ReceiptHandler | None = None
    ) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.on_receipt = on_receipt
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self.closed.is_set()

    async def connect(self) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.timeout
        )
        self._task = asyncio.create_task(self._read_loop(), name=f"smpp-{self.host}:{self.port}")

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                header = await self._reader.readexactly(16)
                length, command_id, status, seq = struct.unpack(">IIII", header)
                body = await self._reader.readexactly(length - 16) if length > 16 else b""
                pdu = Pdu(command_id, status, seq, body)
                if command_id & RESP:
                    fut = self._pending.pop(seq, None)
                    if fut is not None and not fut.done():
                        fut.set_result(pdu)
                elif command_id == ENQUIRE_LINK:
                    await self._write(Pdu(ENQUIRE_LINK | RESP, 0, seq))
                elif command_id == DELIVER_SM:
                    await self._deliver(pdu)
                elif command_id == UNBIND:
                    await self._write(Pdu(UNBIND | RESP, 0, seq))
                    break
                else:
                    await self._write(Pdu(GENERIC_NACK, 0x03, seq))  # ESME_RINVCMDID
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("SMPP connection closed"))
            self._pending.clear()

    async def _deliver(self, pdu: Pdu) -> None:
        status = 0
        try:
            receipt = parse_receipt(ShortMessage.decode(pdu.body))
            if receipt is not None and self.on_receipt is not None:
                await self.on_receipt(receipt)
        except Exception as exc:  # do not ack a receipt we could not store: the SMSC redelivers it
            log.warning("SMPP receipt not applied: %s", exc)
            status = ESME_RSYSERR
        await self._write(Pdu(DELIVER_SM | RESP, status, pdu.sequence, cstr("")))

    async def _write(self, pdu: Pdu) -> None:
        if self._writer is None:
            raise ConnectionError("SMPP not connected")
        self._writer.write(pdu.encode())
        await self._writer.drain()

    async def request(self, command_id: int, body: bytes) -> Pdu:
        seq = next(self._seq)
        fut: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[seq] = fut
        await self._write(Pdu(command_id, 0, seq, body))
        try:
            return await asyncio.wait_for(fut, self.timeout)
        finally:
            self._pending.pop(seq, None)

    async def bind(self, command_id: int, system_id: str, password: str, system_type: str = "") -> None:
        body = (
            cstr(system_id) + cstr(password) + cstr(system_type) + struct.pack(">BBB", 0x34, 0, 0) + cstr("")
        )
        resp = await self.request(command_id, body)
        if resp.status != ESME_ROK:
            raise SmppError(resp.status, "bind")

    async def submit(self, sm: ShortMessage) -> str:
        resp = await self.request(SUBMIT_SM, sm.encode())
        if resp.status != ESME_ROK:
            raise SmppError(resp.status, "submit_sm")
        message_id, _ = read_cstr(resp.body, 0) if resp.body else ("", 0)
        return message_id

    async def enquire_link(self) -> None:
        await self.request(ENQUIRE_LINK, b"")

    async def close(self) -> None:
        if self.connected:
            try:
                await asyncio.wait_for(self.request(UNBIND, b""), 2.0)
            except Exception:
                pass
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except Exception:
                pass
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._writer = None


def split_for_submit(text: str, reference: int) -> tuple[segments.Segments, list[tuple[int, bytes]]]:
    """(segments, [(esm_class, short_message)]) with an 8-bit-reference concatenation UDH when needed."""
    segs = segments.split(text)
    if segs.count == 1:
        return segs, [(0, segments.encode(segs.parts[0], segs.encoding))]
    out = []
    for i, part in enumerate(segs.parts, start=1):
        udh = bytes((0x05, 0x00, 0x03, reference & 0xFF, segs.count, i))
        out.append((0x40, udh + segments.encode(part, segs.encoding)))
    return segs, out


class SmppAdapter:
    def __init__(self, name: str, config: dict[str, Any]) -> None:
        self.name = name
        self.host = str(config.get("host", "127.0.0.1"))
        self.port = int(config.get("port", 2775))
        self.system_id = str(config.get("system_id", ""))
        self.password = str(config.get("password", ""))
        self.system_type = str(config.get("system_type", ""))
        self.source_addr = str(config.get("source_addr", ""))
        self.source_ton = int(
            config.get("source_addr_ton", 5 if not self.source_addr.lstrip("+").isdigit() else 1)
        )
        self.source_npi = int(config.get("source_addr_npi", 0 if self.source_ton == 5 else 1))
        self.timeout = float(config.get("timeout", 10.0))
        self._client: SmppClient | None = None
        self._lock = asyncio.Lock()
        self._ref = itertools.count(1)

    async def _session(self) -> SmppClient:
        if self._client is not None and self._client.connected:
            return self._client
        client = SmppClient(self.host, self.port, timeout=self.timeout)
        await client.connect()
        try:
            await client.bind(BIND_TRANSMITTER, self.system_id, self.password, self.system_type)
        except BaseException:
            await client.close()
            raise
        self._client = client
        return client

    async def send(self, message: Outbound) -> Accepted:
        segs, parts = split_for_submit(message.text, next(self._ref))
        ids: list[str] = []
        async with self._lock:
            try:
                client = await self._session()
                for esm_class, payload in parts:
                    sm = ShortMessage(
                        source_addr=self.source_addr,
                        source_ton=self.source_ton,
                        source_npi=self.source_npi,
                        destination_addr=message.recipient.lstrip("+"),
                        esm_class=esm_class,
                        registered_delivery=1,
                        data_coding=segs.data_coding,
                        short_message=payload,
                    )
                    ids.append(await client.submit(sm))
            except SmppError as exc:
                if ids:  # a later part failed: the earlier ones are out; report what we know
                    log.warning(
                        "SMPP %s: part %d of %d refused: %s", self.name, len(ids) + 1, segs.count, exc
                    )
                if exc.status in TRANSIENT_STATUSES or "bind" in str(exc):
                    if "bind" in str(exc):
                        await self._reset()
                    raise TransientError(str(exc), code=f"0x{exc.status:08X}") from None
                raise PermanentError(str(exc), code=f"0x{exc.status:08X}") from None
            except (OSError, ConnectionError, TimeoutError) as exc:
                await self._reset()
                raise TransientError(f"{type(exc).__name__}: {exc}", code="connection") from None
        return Accepted(tuple(ids), segs.count, f"{segs.encoding}, {segs.count} segment(s)")

    async def _reset(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def close(self) -> None:
        await self._reset()


class SmppReceiptListener:
    """Keeps a bind_receiver session to one SMPP provider open and hands every DLR to ``handler``;
    reconnects with backoff. Runs in the app process (every replica may bind; applying a receipt is
    idempotent)."""

    def __init__(self, name: str, config: dict[str, Any], handler: Callable[[str, Receipt], Awaitable[None]]):
        self.name = name
        self.config = config
        self.handler = handler
        self.bound = asyncio.Event()

    async def run(self) -> None:
        backoff = 0.2
        while True:

            async def on_receipt(receipt: Receipt) -> None:
                await self.handler(self.name, receipt)

            client = SmppClient(
                str(self.config.get("host", "127.0.0.1")),
                int(self.config.get("port", 2775)),
                timeout=float(self.config.get("timeout", 10.0)),
                on_receipt=on_receipt,
            )
            try:
                await client.connect()
                await client.bind(
                    BIND_RECEIVER,
                    str(self.config.get("system_id", "")),
                    str(self.config.get("password", "")),
                    str(self.config.get("system_type", "")),
                )
                self.bound.set()
                backoff = 0.2
                while not client.closed.is_set():
                    try:
                        await asyncio.wait_for(client.closed.wait(), 30.0)
                    except TimeoutError:
                        await client.enquire_link()
            except asyncio.CancelledError:
                await client.close()
                raise
            except Exception as exc:
                log.info("SMPP receipts %s: %s; reconnecting in %.1fs", self.name, exc, backoff)
            finally:
                self.bound.clear()
            await client.close()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)
