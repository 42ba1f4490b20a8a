"""Intake field names, aliases and the mapping of form/CSV pairs onto lead input (pure)."""

from __future__ import annotations

import pytest
from crm_leads.intake import fields as f
from crm_platform.contact_points import normalise_phone


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("email", "email"),
        ("E-mail", "email"),
        (" E-Mail Address ", "email"),
        ("\ufeffFirst Name", "first_name"),
        ("Mobile Phone", "mobile"),
        ("Company Name", "company"),
        ("utm_campaign", "campaign"),
        ("message", "description"),
        ("نام خانوادگی", "last_name"),
        ("نام\u200cخانوادگی", "last_name"),  # noqa: RUF001 (a zero-width non-joiner)
        ("ايميل", "email"),  # Arabic yeh instead of Persian yeh
        ("تلفن همراه", "mobile"),
        ('דוא"ל', "email"),
        ("שם פרטי", "first_name"),
        ("Vezetéknév", "last_name"),
        ("Irányítószám", "postal_code"),
        ("custom.Budget", "custom.budget"),
        ("custom.bad key!", None),
        ("favourite colour", None),
        ("", None),
    ],
)
def test_canonical_names_and_aliases(raw, canonical):
    assert f.canonical_name(raw) == canonical


def test_whitelist_entries():
    assert f.whitelist_error("email") is None
    assert f.whitelist_error("custom.*") is None
    assert f.whitelist_error("custom.budget") is None
    assert "source" in (f.whitelist_error("source") or "")
    assert "unknown" in (f.whitelist_error("shoe_size") or "")
    assert f.is_allowed("custom.x", ["custom.*"]) and not f.is_allowed("custom.x", ["email"])
    assert f.is_allowed("anything", None)


def test_map_fields_builds_lead_input_and_remembers_where_each_value_came_from():
    mapped = f.map_fields(
        [
            ("E-mail", "a@x.com; B@Y.com"),
            ("email2", "ignored-unknown"),
            ("Mobile", "0912 345 6789"),
            ("Phone", "021 1234 5678;021 8765 4321"),
            ("Fax", "021 5555 5555"),
            ("Full Name", "Kovács János"),
            ("Notes", "first"),
            ("message", "second"),
            ("Do not call", "igen"),
            ("Employees", "۱٬۲۵۰"),  # noqa: RUF001
            ("Annual revenue", "1 250 000.50"),
            ("custom.budget", "1000"),
            ("utm_source", "google"),
        ]
    )
    assert mapped.data["emails"] == ["a@x.com", "B@Y.com"]
    assert mapped.data["phones"] == [
        {"number": "0912 345 6789", "kind": "mobile"},
        {"number": "021 1234 5678", "kind": "work"},
        {"number": "021 8765 4321", "kind": "work"},
        {"number": "021 5555 5555", "kind": "fax"},
    ]
    assert mapped.data["last_name"] == "Kovács János" and "first_name" not in mapped.data
    assert mapped.data["description"] == "first\nsecond"
    assert mapped.data["do_not_call"] is True
    assert mapped.data["employee_count"] == "1250" and mapped.data["annual_revenue"] == "1250000.50"
    assert mapped.data["custom_fields"] == {"budget": "1000"}
    assert mapped.ignored == ["email2", "utm_source"]
    assert mapped.errors == {}
    assert mapped.error_key("emails.1") == "E-mail"
    assert mapped.error_key("phones.3.number") == "Fax"
    assert mapped.error_key("phones.0.number") == "Mobile"
    assert mapped.error_key("custom_fields.budget") == "custom.budget"
    assert mapped.error_key("employee_count") == "Employees"
    assert mapped.error_key("name") == "name"


def test_map_fields_whitelist_forbidden_bad_values_and_json_shapes():
    pairs = f.flatten_json(
        {
            "first_name": "Ali",
            "emails": ["a@x.com", "b@x.com"],
            "phones": [{"number": "+98 912 345 6789", "kind": "mobile"}, "021 1234 5678"],
            "custom_fields": {"budget": 10, "size": "L"},
            "source": "self-declared",
            "do_not_email": "perhaps",
        }
    )
    mapped = f.map_fields(
        pairs,
        whitelist=["first_name", "email", "phone", "custom.budget", "do_not_email"],
        forbidden=["source"],
    )
    assert mapped.data["emails"] == ["a@x.com", "b@x.com"]
    assert mapped.data["phones"] == [
        {"number": "+98 912 345 6789", "kind": "mobile"},
        {"number": "021 1234 5678", "kind": "work"},
    ]
    assert mapped.data["custom_fields"] == {"budget": 10}
    assert mapped.ignored == ["custom.size", "source"]
    assert mapped.errors == {"do_not_email": "not a yes/no value"}
    # An explicit first/last name wins over a full name; empty values are no values.
    assert f.map_fields([("name", "X Y"), ("last_name", "Y")]).data == {"last_name": "Y"}
    assert f.map_fields([("email", ""), ("phone", " "), ("employees", "")]).data == {}


@pytest.mark.parametrize("value", [True, "1", "yes", "On", "x", "بله", "כן", "igen"])
def test_truthy(value):
    assert f.parse_bool(value) is True


@pytest.mark.parametrize("value", [False, "", "0", "no", "OFF", "خیر", "לא", "nem"])
def test_falsy(value):
    assert f.parse_bool(value) is False


def test_clean_number():
    assert f.clean_number("1,250,000") == "1250000"
    assert f.clean_number("۱۲۳٫۵") == "123.5"  # noqa: RUF001
    assert f.clean_number(" ") is None and f.clean_number(None) is None
    assert f.clean_number(42) == "42"


def test_fingerprint_ignores_formatting_but_not_content():
    def fp(pairs):
        return f.canonical_fingerprint(f.map_fields(pairs).data, normalise_phone, "IR")

    base = fp([("first_name", "Ali"), ("email", "ali@x.com"), ("mobile", "09123456789")])
    assert base == fp([("First Name", "  ALI "), ("E-mail", "Ali@X.com"), ("mobile", "+98 912 345 6789")])
    assert base == fp([("mobile", "۰۹۱۲۳۴۵۶۷۸۹"), ("email", "ali@x.com"), ("first_name", "ali")])
    assert base != fp([("first_name", "Ali"), ("email", "ali@y.com"), ("mobile", "09123456789")])
    assert base != fp([("first_name", "Ali"), ("email", "ali@x.com"), ("phone", "09123456789")])
