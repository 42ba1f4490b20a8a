import datetime as dt

from crm_notify.consent.service import in_quiet_hours, read_unsubscribe_token, unsubscribe_token
from crm_notify.messages.service import backoff_seconds
from crm_notify.providers import segments
from crm_notify.providers.smpp import ShortMessage, parse_receipt, split_for_submit
from crm_notify.rules.service import condition_holds
from crm_notify.templates.rendering import RenderError, email_layout, format_date, render


def test_persian_sms_of_70_characters_is_one_segment_and_71_are_two():
    assert segments.split("س" * 70).count == 1
    two = segments.split("س" * 71)
    assert two.encoding == "ucs2" and two.count == 2 and [len(p) for p in two.parts] == [67, 4]


def test_gsm7_limits_escape_characters_and_accents():
    assert segments.split("a" * 160).count == 1 and segments.split("a" * 161).count == 2
    assert segments.split("[" * 80).units == 160 and segments.count("[" * 81) == 2
    parts = segments.split("a" + "€" * 80).parts  # an escape pair is never split
    assert all(sum(segments.unit_cost(c, "gsm7") for c in p) <= 153 for p in parts)
    assert segments.split("Szép öröm éj").encoding == "gsm7"  # é ö are in the default alphabet
    assert segments.split("Árvíztűrő tükörfúrógép").encoding == "ucs2"  # ű/ő are not
    assert segments.split("שלום ₪").encoding == "ucs2"


def test_surrogate_pairs_are_never_split():
    text = "a" * 66 + "😀" + "b"
    parts = segments.split(text).parts
    assert "".join(parts) == text and all("\ud83d" not in p for p in parts)
    assert segments.split(text).units == 69


def test_gsm7_round_trip_and_udh_parts():
    text = "Price: 10€ [ok] ~ {x}"
    assert segments.decode(segments.encode(text, "gsm7"), 0) == text
    segs, parts = split_for_submit("ب" * 71, reference=7)
    assert segs.count == 2 and [p[0] for p in parts] == [0x40, 0x40]
    assert parts[0][1][:6] == bytes((5, 0, 3, 7, 2, 1)) and parts[1][1][:6] == bytes((5, 0, 3, 7, 2, 2))


def test_smpp_delivery_receipt_parsing():
    sm = ShortMessage(
        esm_class=0x04, short_message=b"id:0000ABCD sub:001 dlvrd:001 stat:UNDELIV err:011 text:"
    )
    receipt = parse_receipt(sm)
    assert receipt is not None and (receipt.provider_message_id, receipt.status) == (
        "0000ABCD",
        "undeliverable",
    )
    sm.tlvs = {0x001E: b"0000ABCD\x00", 0x0427: bytes((2,))}
    assert parse_receipt(sm).status == "delivered"  # type: ignore[union-attr]
    assert parse_receipt(ShortMessage(esm_class=0, short_message=b"STOP")) is None
    assert ShortMessage.decode(sm.encode()).tlvs[0x0427] == bytes((2,))


def test_jalali_dates_persian_digits_and_missing_variables():
    assert format_date("2026-03-21", "fa") == "۱ فروردین ۱۴۰۵"  # noqa: RUF001
    assert format_date(dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.UTC), "fa", "Asia/Tehran", True).endswith(
        "۲۳:۳۰"
    )
    assert format_date("2026-11-25", "hu") == "2026. november 25."
    try:
        render("{{ a }}", "{{ b }} {{ c.d }}", None, {"c": {"d": 1}}, "en")
    except RenderError as exc:
        assert exc.fields == {
            "data.a": "is required by the template",
            "data.b": "is required by the template",
        }
    else:
        raise AssertionError("missing variables must not render")


def test_rtl_layout_and_html_escaping():
    html = email_layout("<p>x</p>", "<سلام>", "fa", "https://crm.example/u?t=1&x=2")
    assert '<html lang="fa" dir="rtl">' in html and "text-align:right" in html
    assert "&lt;سلام&gt;" in html and "t=1&amp;x=2" in html and "لغو اشتراک" in html
    assert 'dir="ltr"' in email_layout("", "s", "hu")


def test_quiet_hours_wrap_midnight_in_the_contact_point_zone():
    start, end = dt.time(22, 0), dt.time(7, 0)
    # 20:00 UTC = 23:30 in Tehran: quiet until 07:00 Tehran = 03:30 UTC next day
    until = in_quiet_hours(dt.datetime(2026, 11, 25, 20, 0, tzinfo=dt.UTC), "Asia/Tehran", start, end)
    assert until == dt.datetime(2026, 11, 26, 3, 30, tzinfo=dt.UTC)
    assert in_quiet_hours(dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC), "Asia/Tehran", start, end) is None
    assert in_quiet_hours(dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC), "UTC", start, end) == dt.datetime(
        2026, 11, 25, 7, 0, tzinfo=dt.UTC
    )
    assert in_quiet_hours(dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC), "UTC", None, None) is None


def test_unsubscribe_tokens_are_signed():
    token = unsubscribe_token("k", "email", "a@b.co", "marketing")
    assert read_unsubscribe_token("k", token) == ("email", "a@b.co", "marketing")
    import pytest
    from crm_notify.consent.exceptions import InvalidLinkToken

    with pytest.raises(InvalidLinkToken):
        read_unsubscribe_token("other", token)


def test_backoff_grows_exponentially_and_is_capped():
    assert [round(backoff_seconds(n, 30, 3600, jitter=0)) for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]
    assert 24 <= backoff_seconds(1, 30, 3600) <= 36


def test_rule_conditions():
    data = {"new_status": "serious_prospect", "lead": {"country": "IR", "score": 70}, "tags": ["vip"]}
    assert condition_holds(data, {"field": "new_status", "op": "eq", "value": "serious_prospect"})
    assert condition_holds(data, {"field": "lead.country", "op": "in", "value": ["IR", "IL"]})
    assert condition_holds(data, {"field": "lead.score", "op": "gte", "value": 50})
    assert not condition_holds(data, {"field": "lead.score", "op": "lt", "value": "x"})
    assert condition_holds(data, {"field": "tags", "op": "contains", "value": "vip"})
    assert condition_holds(data, {"field": "missing", "op": "not_exists"})
    assert not condition_holds(data, {"field": "missing", "op": "eq", "value": None})
