"""CSV decoding, delimiter detection, line numbers, and request-body parsing (pure)."""

from __future__ import annotations

import pytest
from crm_leads.intake.csvfile import (
    CsvProblem,
    decode,
    parse,
    parse_multipart,
    parse_urlencoded,
    sniff_delimiter,
)


def test_decode_utf8_with_or_without_bom_and_utf16_and_refuses_guessing():
    assert decode("نام\n".encode()) == "نام\n"
    assert decode("\ufeffname\n".encode()) == "name\n"
    assert decode("név\n".encode("utf-16")) == "név\n"
    with pytest.raises(CsvProblem, match="UTF-8"):
        decode("név\n".encode("latin-1"))


@pytest.mark.parametrize(
    ("header", "delimiter"), [("a,b", ","), ("a;b;c", ";"), ("a\tb", "\t"), ("a|b", "|"), ("a", ",")]
)
def test_sniff_delimiter(header, delimiter):
    assert sniff_delimiter(header + "\n1,2\n") == delimiter


def test_parse_reports_physical_line_numbers_and_skips_blank_rows():
    text = (
        "First Name,E-mail,Notes,Shoe size\n"  # line 1
        "Ali,ali@x.com,one line,42\n"  # line 2
        "\n"  # line 3: blank
        'Dana,d@x.com,"two\nlines",\n'  # lines 4-5
        ",,,\n"  # line 6: all empty
        "Eve,e@x.com\n"  # line 7: short row
    )
    table = parse(text)
    assert table.header == ["First Name", "E-mail", "Notes", "Shoe size"]
    assert table.columns == ["first_name", "email", "description", None]
    assert table.ignored_columns == ["Shoe size"]
    assert table.mapping == {"First Name": "first_name", "E-mail": "email", "Notes": "description"}
    assert [line for line, _ in table.records] == [2, 4, 7]
    assert table.pairs(table.records[1][1]) == [
        ("First Name", "Dana"),
        ("E-mail", "d@x.com"),
        ("Notes", "two\nlines"),
    ]
    assert table.pairs(table.records[2][1]) == [("First Name", "Eve"), ("E-mail", "e@x.com"), ("Notes", "")]


def test_parse_repeated_columns():
    table = parse("Email,Email,Company,Company\na@x.com,b@x.com,A,B\n")
    assert table.columns == ["email", "email", "company", None]


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty"), ("\n\n", "empty"), ("colour,size\nred,L\n", "no column"), ("email\x00\n", "NUL")],
)
def test_parse_refuses_unusable_files(text, reason):
    with pytest.raises(CsvProblem, match=reason):
        parse(text)


def test_parse_multipart_keeps_bytes_and_fields():
    boundary = "xYzZY"
    csv_bytes = "نام,ایمیل\r\nعلی,a@x.ir\r\n".encode()
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="default_region"\r\n\r\n'
            "IR\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="leads.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + csv_bytes
        + f"\r\n--{boundary}--\r\n".encode()
    )
    parts = parse_multipart(f"multipart/form-data; boundary={boundary}", body)
    assert [(p.name, p.filename) for p in parts] == [("default_region", None), ("file", "leads.csv")]
    assert parts[0].value == b"IR"
    assert parts[1].value == csv_bytes and parts[1].content_type == "text/csv"
    with pytest.raises(CsvProblem):
        parse_multipart("multipart/form-data", b"garbage")


def test_parse_urlencoded_keeps_repeats_and_blanks():
    assert parse_urlencoded(b"email=a%40x.com&email=b%40x.com&note=&name=%D8%B9%D9%84%DB%8C") == [
        ("email", "a@x.com"),
        ("email", "b@x.com"),
        ("note", ""),
        ("name", "علی"),
    ]
    with pytest.raises(CsvProblem):
        parse_urlencoded(b"\xff\xfe")
