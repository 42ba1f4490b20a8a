"""Pure matching rules for duplicates and lead conversion: which e-mail domains say something about the
company (free-mail ones do not), and how to rank candidates."""

from __future__ import annotations

from collections.abc import Iterable

from crm_platform.contact_points import email_domain, normalise_domain

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "yahoo.co.il",
        "ymail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "icloud.com",
        "me.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.com",
        "gmx.net",
        "gmx.de",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "yandex.com",
        "freemail.hu",
        "citromail.hu",
        "walla.co.il",
        "walla.com",
        "chmail.ir",
        "email.ir",
        "mail.com",
    }
)

# Criteria in order of strength: a shared web domain says more than a similar name or a shared switchboard.
CRITERIA_ORDER = {"chosen": 0, "domain": 1, "email": 1, "company": 2, "phone": 3}


def company_domains(emails: Iterable[str], website: str = "") -> list[str]:
    """Domains that identify the company: the web site's, then the non-free-mail e-mail domains."""
    out: list[str] = []
    if website.strip():
        try:
            out.append(normalise_domain(website))
        except ValueError:
            pass
    for email in emails:
        domain = email_domain(email)
        if domain and domain not in FREE_MAIL_DOMAINS and domain not in out:
            out.append(domain)
    return out


def rank(matched_on: set[str]) -> tuple[int, int]:
    """Sort key: the strongest criterion first, then the most criteria."""
    best = min((CRITERIA_ORDER.get(c, 9) for c in matched_on), default=9)
    return best, -len(matched_on)
