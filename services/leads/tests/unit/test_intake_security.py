"""API keys, origins, rate-limit arithmetic and fail-open behaviour (pure or no server needed)."""

from __future__ import annotations

import time
import uuid

import pytest
from crm_leads.intake.models import LeadSource
from crm_leads.intake.ratelimit import RateLimiter, retry_after_ms
from crm_leads.intake.service import (
    _item_errors,
    hash_key,
    key_looks_valid,
    new_api_key,
    normalise_origin,
    origin_allowed,
)
from crm_platform.errors import ValidationFailed


def test_api_keys_are_random_prefixed_and_hashed():
    a, b = new_api_key(), new_api_key()
    assert a != b and a.startswith("lsk_") and len(a) == 47
    assert key_looks_valid(a)
    assert hash_key(a) != hash_key(b) and len(hash_key(a)) == 64
    assert not key_looks_valid("short") and not key_looks_valid("lsk_" + "a" * 20 + "/..")


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example/", "https://shop.example"),
        ("https://shop.example:443", "https://shop.example"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("*", "*"),
    ],
)
def test_normalise_origin(raw, origin):
    assert normalise_origin(raw) == origin


@pytest.mark.parametrize(
    "raw",
    ["shop.example", "ftp://shop.example", "https://shop.example/form", "https://u:p@shop.example", "null"],
)
def test_normalise_origin_refuses(raw):
    with pytest.raises(ValueError):
        normalise_origin(raw)


def test_origin_allowed():
    source = LeadSource(allowed_origins=["https://shop.example"])
    assert origin_allowed(source, None)
    assert origin_allowed(source, "https://SHOP.example:443")
    assert not origin_allowed(source, "https://evil.example")
    assert not origin_allowed(source, "null")
    assert not origin_allowed(LeadSource(allowed_origins=[]), "https://shop.example")
    assert origin_allowed(LeadSource(allowed_origins=["*"]), "https://any.example")


def test_create_many_errors_are_split_per_item():
    exc = ValidationFailed({"leads.0.emails.0": "bad", "leads.3.name": "missing", "leads.3.country": "bad"})
    assert _item_errors(exc, 5) == {0: {"emails.0": "bad"}, 3: {"name": "missing", "country": "bad"}}
    assert _item_errors(ValidationFailed({"emails.0": "bad"}), 1) == {0: {"emails.0": "bad"}}


def test_retry_after_arithmetic():
    minute = 60_000
    # Current bucket full: wait for the window to end, then for the previous bucket to decay enough.
    assert retry_after_ms(10, minute, 15_000, 10, 0) == pytest.approx(45_000 + 6_000, abs=1)
    # Current bucket has room but the previous one still weighs too much: wait for it to decay.
    # estimate(t) = 10 * (60000 - 30000 - t) / 60000 + 5; one more fits once estimate + 1 <= 10: t = 6 s.
    assert retry_after_ms(10, minute, 30_000, 5, 10) == pytest.approx(6_000, abs=1)
    assert retry_after_ms(10, minute, 30_000, 4, 0) == 0


async def test_limiter_fails_open_fast_and_pauses_after_a_failure():
    limiter = RateLimiter("redis://127.0.0.1:1/0", timeout=0.2)
    started = time.perf_counter()
    first = await limiter.hit(str(uuid.uuid4()), 1)
    assert first.allowed and first.degraded
    # During the pause Redis is not asked again, so an outage adds no latency.
    for _ in range(20):
        assert (await limiter.hit("x", 1)).degraded
    assert time.perf_counter() - started < 2
    await limiter.close()
