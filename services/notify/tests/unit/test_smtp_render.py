"""The hand-written MIME of the SMTP adapter parses back (standard library parser) to what was meant."""

from __future__ import annotations

import email
import email.policy

from crm_notify.providers.base import Document, Outbound
from crm_notify.providers.smtp import render_email


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.SMTPUTF8)  # type: ignore[return-value]


def test_plain_ascii_message_is_7bit_single_part():
    out = Outbound("m-1", "email", "rep@example.com", "Hello", "line one\n.line two\n")
    msg = parse(render_email(out, "crm@example.com", "CRM"))
    assert msg["Subject"] == "Hello" and msg["To"] == "rep@example.com"
    assert msg["From"] == "CRM <crm@example.com>" and msg["Message-ID"] == "<m-1@example.com>"
    assert msg.get_content_type() == "text/plain" and msg["Content-Transfer-Encoding"] == "7bit"
    assert msg.get_content() == "line one\r\n.line two\r\n"
    assert not msg.defects


def test_rtl_html_alternative_attachment_and_utf8_address():
    out = Outbound(
        "m-2",
        "email",
        "دنی@דוגמה.ישראל",
        "سرنخ جدید: رضا",
        "به شما واگذار شد",
        '<html lang="fa" dir="rtl"><body>سلام</body></html>',
        (Document("فاکتور.pdf", "application/pdf", b"%PDF-1.4\n" + bytes(range(256))),),
        {"List-Unsubscribe": "<https://crm.example.com/u?token=" + "a" * 150 + ">"},
    )
    data = render_email(out, "crm@example.com", "سامانه")
    msg = parse(data)
    assert msg["Subject"] == "سرنخ جدید: رضا" and msg["To"] == "دنی@דוגמה.ישראל"
    assert msg["From"] == "سامانه <crm@example.com>"
    assert msg["List-Unsubscribe"] == "<https://crm.example.com/u?token=" + "a" * 150 + ">"
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.get_body(("plain",)).get_content().strip() == "به شما واگذار شد"
    assert 'dir="rtl"' in msg.get_body(("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert attachment.get_filename() == "فاکتور.pdf" and attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == b"%PDF-1.4\n" + bytes(range(256))
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_line_breaks_in_header_values_never_start_a_header():
    out = Outbound("m-3", "email", "a@example.com", "Hi\r\nBcc: victim@example.com", "x")
    msg = parse(render_email(out, "crm@example.com"))
    assert msg["Bcc"] is None and "victim" in msg["Subject"]
