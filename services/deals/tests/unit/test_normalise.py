import pytest
from crm_platform.contact_points import normalise_domain, normalise_email, normalise_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("http://shop.acme.co.il:8080", "shop.acme.co.il"),
        ("info@acme.hu", "acme.hu"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("acme.com.", "acme.com"),
    ],
)
def test_domains_are_reduced_to_the_bare_host(raw: str, expected: str) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize("raw", ["", "acme", "not a domain", "acme..com", "-acme.com", "a" * 64 + ".com"])
def test_non_domains_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_domain(raw)


def test_phones_and_emails() -> None:
    assert normalise_phone("۰۹۱۲۳۴۵۶۷۸۹", "ir") == "+989123456789"
    assert normalise_phone("052-345-6789", "IL") == "+972523456789"
    with pytest.raises(ValueError):
        normalise_phone("12", "IR")
    assert normalise_email(" Sara@Acme.COM ") == "sara@acme.com"
    with pytest.raises(ValueError):
        normalise_email("sara@acme")
