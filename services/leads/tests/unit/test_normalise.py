import pytest
from crm_platform.contact_points import normalise_email, normalise_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("0912 345 6789", "IR", "+989123456789"),
        ("+98 912 345 6789", "HU", "+989123456789"),
        ("۰۹۱۲۳۴۵۶۷۸۹", "IR", "+989123456789"),  # Persian digits
        ("٠٩١٢٣٤٥٦٧٨٩", "IR", "+989123456789"),  # Arabic-Indic digits
        ("031 3222 1234", "IR", "+983132221234"),  # Isfahan landline
        ("052-345-6789", "IL", "+972523456789"),
        ("06 30 123 4567", "HU", "+36301234567"),
        ("0036 30 123 4567", "IR", "+36301234567"),
    ],
)
def test_national_forms_match_their_international_form(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["", "12", "not a phone", "+98 912"])
def test_invalid_phones_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        normalise_phone(raw, "IR")


def test_email_is_lower_cased_and_validated() -> None:
    assert normalise_email("  Ali.Rezaei@Example.COM ") == "ali.rezaei@example.com"
    with pytest.raises(ValueError):
        normalise_email("ali@")
    with pytest.raises(ValueError):
        normalise_email("a b@example.com")
