"""Our own SMS segment counter and splitter (GSM 03.38 7-bit default alphabet vs UCS-2).

* GSM-7: 160 septets in one message, 153 per part of a concatenated one; characters of the extension
  table (``^ { } \\ [ ~ ] | €`` and form feed) cost two septets (ESC + code) and are never split apart.
* UCS-2: 70 UTF-16 code units alone, 67 per part; a character outside the BMP (emoji) is a surrogate
  pair (two units) and is never split. Persian, Hebrew and Hungarian ő/ű are UCS-2 (Hungarian has no
  national shift table; only é ö ü É Ö Ü are in the default alphabet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}
_BASIC_CODES = {ch: i for i, ch in enumerate(GSM7_BASIC) if ch != "\x1b"}
_EXT_DECODE = {code: ch for ch, code in GSM7_EXTENSION.items()}
ESC = 0x1B

Encoding = Literal["gsm7", "ucs2"]
LIMITS: dict[str, tuple[int, int]] = {"gsm7": (160, 153), "ucs2": (70, 67)}
MAX_PARTS = 255  # one octet in the concatenation UDH


@dataclass(frozen=True)
class Segments:
    encoding: Encoding
    parts: tuple[str, ...]
    units: int  # septets (gsm7) or UTF-16 code units (ucs2) of the whole text

    @property
    def count(self) -> int:
        return len(self.parts)

    @property
    def data_coding(self) -> int:
        """SMPP data_coding: 0 = SMSC default alphabet (GSM-7), 8 = UCS-2."""
        return 0 if self.encoding == "gsm7" else 8


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC_CODES or ch in GSM7_EXTENSION for ch in text)


def unit_cost(ch: str, encoding: Encoding) -> int:
    if encoding == "gsm7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1


def split(text: str) -> Segments:
    """Choose the encoding and split into parts on character boundaries."""
    encoding: Encoding = "gsm7" if is_gsm7(text) else "ucs2"
    single, multi = LIMITS[encoding]
    costs = [unit_cost(ch, encoding) for ch in text]
    total = sum(costs)
    if total <= single:
        return Segments(encoding, (text,) if text else ("",), total)
    parts: list[str] = []
    start, used = 0, 0
    for i, cost in enumerate(costs):
        if used + cost > multi:
            parts.append(text[start:i])
            start, used = i, 0
        used += cost
    parts.append(text[start:])
    return Segments(encoding, tuple(parts), total)


def count(text: str) -> int:
    return split(text).count


def encode(part: str, encoding: Encoding) -> bytes:
    """Octets of one part for short_message: unpacked GSM-7 septets, or UTF-16-BE."""
    if encoding == "ucs2":
        return part.encode("utf-16-be")
    out = bytearray()
    for ch in part:
        if ch in GSM7_EXTENSION:
            out += bytes((ESC, GSM7_EXTENSION[ch]))
        else:
            out.append(_BASIC_CODES[ch])
    return bytes(out)


def decode(data: bytes, data_coding: int) -> str:
    if data_coding == 8:
        return data.decode("utf-16-be")
    chars: list[str] = []
    escaped = False
    for b in data:
        if escaped:
            chars.append(_EXT_DECODE.get(b, " "))
            escaped = False
        elif b == ESC:
            escaped = True
        else:
            chars.append(GSM7_BASIC[b & 0x7F])
    return "".join(chars)
