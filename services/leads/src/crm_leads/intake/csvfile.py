"""CSV and request-body parsing for intake (pure, no I/O).

- Encodings: UTF-8 (with or without the BOM Excel writes) and UTF-16 with a BOM; anything else is
  refused rather than guessed (a wrong guess would silently import mojibake).
- Delimiter: ``,`` ``;`` ``\\t`` or ``|``, detected from the header line (Excel in comma-decimal locales,
  e.g. Hungarian, writes ``;``).
- Row numbers are 1-based physical line numbers in the file where the record starts (the header is
  line 1), so a spreadsheet user finds a reported row directly.
- Blank lines and rows whose cells are all empty are skipped and not counted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from urllib.parse import parse_qsl

from crm_leads.intake.fields import canonical_name

DELIMITERS = (",", ";", "\t", "|")
MULTI_VALUED = ("email", "phone", "mobile", "home_phone", "fax")


class CsvProblem(ValueError):
    """The file as a whole cannot be read (encoding, no header, malformed quoting)."""


def decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise CsvProblem(f"file is not valid UTF-16: {exc.reason} at byte {exc.start}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvProblem(
            f"file must be UTF-8 (or UTF-16 with a BOM); invalid byte at offset {exc.start}"
        ) from None


def sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


@dataclass
class CsvTable:
    header: list[str]
    columns: list[str | None]  # canonical intake field per column (None: ignored)
    delimiter: str
    records: list[tuple[int, list[str]]] = field(default_factory=list)  # (line number, cells)

    @property
    def ignored_columns(self) -> list[str]:
        return [h for h, c in zip(self.header, self.columns, strict=True) if c is None]

    @property
    def mapping(self) -> dict[str, str]:
        return {h: c for h, c in zip(self.header, self.columns, strict=True) if c is not None}

    def pairs(self, cells: list[str]) -> list[tuple[str, str]]:
        """(header, value) pairs of one record for the mapped columns (extra cells are dropped)."""
        return [
            (self.header[i], cells[i] if i < len(cells) else "")
            for i, col in enumerate(self.columns)
            if col is not None
        ]


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    line = 1
    try:
        for cells in reader:
            yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise CsvProblem(f"line {reader.line_num}: {exc}") from None


def parse(text: str) -> CsvTable:
    """Header and records of a CSV text; raises CsvProblem when it has no usable header."""
    if "\x00" in text:
        raise CsvProblem("file contains NUL bytes; is it a spreadsheet rather than a CSV export?")
    delimiter = sniff_delimiter(text)
    rows = _records(text, delimiter)
    header: list[str] | None = None
    for _, cells in rows:
        if any(c.strip() for c in cells):
            header = [c.strip().lstrip("\ufeff") for c in cells]
            break
    if header is None:
        raise CsvProblem("file is empty: it needs a header line and at least one row")
    columns: list[str | None] = []
    seen: set[str] = set()
    for h in header:
        name = canonical_name(h) if h else None
        # A repeated column of a single-valued field is ignored; emails/phones may repeat.
        if name is not None and name in seen and name not in MULTI_VALUED:
            name = None
        if name is not None:
            seen.add(name)
        columns.append(name)
    if not seen:
        raise CsvProblem(
            "no column is recognised; use headers such as first_name, last_name, company, email, phone"
        )
    table = CsvTable(header=header, columns=columns, delimiter=delimiter)
    for line, cells in rows:
        if any(c.strip() for c in cells):
            table.records.append((line, cells))
    return table


# --- request bodies ----------------------------------------------------------------------------------
@dataclass
class FormPart:
    name: str
    value: bytes
    filename: str | None = None
    content_type: str = ""


def parse_urlencoded(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CsvProblem("form body must be UTF-8") from None
    return parse_qsl(text, keep_blank_values=True, max_num_fields=1000)


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """The parts of a multipart/form-data body (stdlib parser; no extra dependency)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise CsvProblem("malformed multipart body")
    parts: list[FormPart] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        parts.append(
            FormPart(
                name=name,
                value=payload if isinstance(payload, bytes) else b"",
                filename=part.get_filename(),
                content_type=part.get_content_type(),
            )
        )
    return parts
