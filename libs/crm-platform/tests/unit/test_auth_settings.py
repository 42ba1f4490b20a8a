import datetime as dt

import pytest
from crm_platform.auth import Principal, TokenVerifier, issue_token
from crm_platform.errors import Forbidden, Unauthenticated
from crm_platform.inbox import retry_delay
from crm_platform.settings import DEV_JWT_SECRET, ServiceSettings


def test_production_refuses_dev_secrets() -> None:
    with pytest.raises(ValueError, match="JWT"):
        ServiceSettings(env="prod", service_token="s3cret")
    with pytest.raises(ValueError, match="SERVICE_TOKEN"):
        ServiceSettings(env="prod", jwt_secret="x" * 40)
    ok = ServiceSettings(env="prod", jwt_secret="x" * 40, service_token="s3cret")
    assert ok.env == "prod"


def test_verifier_accepts_good_tokens_and_refuses_bad_ones() -> None:
    v = TokenVerifier(ServiceSettings())
    who = v.verify_bearer(f"Bearer {issue_token(DEV_JWT_SECRET, 'u1', ('manager',), 'north')}")
    assert who == Principal("u1", frozenset({"manager"}), "north")
    expired = issue_token(DEV_JWT_SECRET, "u1", ("rep",), ttl=dt.timedelta(seconds=-5))
    with pytest.raises(Unauthenticated, match="expired"):
        v.verify_bearer(f"Bearer {expired}")
    with pytest.raises(Unauthenticated):
        v.verify_bearer("Basic abc")
    with pytest.raises(Forbidden):
        v.verify_bearer(f"Bearer {issue_token(DEV_JWT_SECRET, 'u1', ('guest',))}")
    svc = v.verify_service_or_user("Bearer dev-only-service-token")
    assert svc.is_service and svc.is_admin


def test_visibility_rules() -> None:
    rep = Principal("r1", frozenset({"rep"}), "north")
    manager = Principal("m1", frozenset({"manager"}), "north")
    admin = Principal("a1", frozenset({"admin"}))
    assert rep.can_see("r1", "north") and not rep.can_see("r2", "north")
    assert manager.can_see("r2", "north") and not manager.can_see("r2", "south")
    assert admin.can_see("anyone", "anywhere")
    with pytest.raises(Forbidden):
        rep.require("admin", "manager")


def test_retry_delay_grows_with_deliveries_and_caps() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4, 5, 9)] == [1.0, 5.0, 30.0, 120.0, 600.0, 600.0]


def test_a_verified_token_is_remembered_until_it_expires(monkeypatch) -> None:
    import time

    import jwt

    v = TokenVerifier(ServiceSettings())
    token = issue_token(DEV_JWT_SECRET, "u1", ("rep",), ttl=dt.timedelta(seconds=1))
    who = v.verify_jwt(token)
    decodes = []
    real_decode = jwt.decode
    monkeypatch.setattr(
        "crm_platform.auth.jwt.decode", lambda *a, **k: decodes.append(1) or real_decode(*a, **k)
    )
    assert v.verify_jwt(token) is who and decodes == []  # no second signature check
    time.sleep(1.1)
    with pytest.raises(Unauthenticated, match="expired"):  # past its exp: checked again, and refused
        v.verify_jwt(token)
    assert decodes == [1]
    other = issue_token(DEV_JWT_SECRET, "u2", ("rep",))
    with pytest.raises(Unauthenticated):  # a tampered token is its own string: never served from the cache
        v.verify_jwt(other[:-4] + token[-4:])
