"""JWT auth for the REST edge (HS256 in dev, JWKS in production) and service tokens for gRPC."""

from __future__ import annotations

import datetime as dt
import hmac
import time
from dataclasses import dataclass
from typing import Literal

import jwt

from crm_platform.errors import Forbidden, Unauthenticated
from crm_platform.settings import DEV_JWT_SECRET, ServiceSettings

Role = Literal["admin", "manager", "rep"]
ROLES: tuple[str, ...] = ("admin", "manager", "rep")
VERIFIED_TOKENS_KEPT = 4096  # per process; the oldest goes first


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user from the gateway's JWT, or another service."""

    subject: str
    roles: frozenset[str]
    team: str = ""
    is_service: bool = False

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles or self.is_service

    @property
    def is_manager(self) -> bool:
        return "manager" in self.roles

    def require(self, *roles: str) -> None:
        if self.is_service or self.roles.intersection(roles):
            return
        raise Forbidden(f"requires one of the roles: {', '.join(roles)}")

    def can_see(self, owner_id: str | None, team: str | None) -> bool:
        """admins see all, managers their team's records, reps their own."""
        if self.is_admin:
            return True
        if self.is_manager and team and team == self.team:
            return True
        return owner_id is not None and owner_id == self.subject


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self.secret = settings.jwt_secret
        self.audience = settings.jwt_audience or None
        self.service_token = settings.service_token
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        # tokens already verified, until their expiry: a client sends the same token with every
        # request, and checking its signature again cost more than the rest of the request's auth
        self._verified: dict[str, tuple[Principal, float]] = {}

    def verify_bearer(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("authorization must be 'Bearer <token>'")
        return self.verify_jwt(token.strip())

    def verify_jwt(self, token: str) -> Principal:
        hit = self._verified.get(token)
        if hit is not None and time.time() < hit[1]:
            return hit[0]
        try:
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(token, key, algorithms=["RS256", "ES256"], audience=self.audience)
            else:
                claims = jwt.decode(token, self.secret, algorithms=["HS256"], audience=self.audience)
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from None
        roles = claims.get("roles") or []
        if isinstance(roles, str):
            roles = [roles]
        known = frozenset(r for r in roles if r in ROLES)
        if not known:
            raise Forbidden("token carries no CRM role")
        sub = str(claims.get("sub") or "")
        if not sub:
            raise Unauthenticated("token has no subject")
        principal = Principal(subject=sub, roles=known, team=str(claims.get("team") or ""))
        exp = claims.get("exp")
        if isinstance(exp, int | float):  # a token without expiry is checked every time
            if len(self._verified) >= VERIFIED_TOKENS_KEPT:
                self._verified.pop(next(iter(self._verified)))
            self._verified[token] = (principal, float(exp))
        return principal

    def verify_service_or_user(self, authorization: str | None) -> Principal:
        """gRPC callers: the shared service token, or a user JWT forwarded by the gateway."""
        if authorization:
            _, _, token = authorization.partition(" ")
            if token and hmac.compare_digest(token.strip(), self.service_token):
                return Principal(subject="service", roles=frozenset({"admin"}), is_service=True)
        return self.verify_bearer(authorization)


def issue_token(
    secret: str,
    sub: str,
    roles: tuple[str, ...] | list[str] = ("rep",),
    team: str = "",
    ttl: dt.timedelta = dt.timedelta(hours=12),
) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": sub, "roles": list(roles), "team": team, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def issue_dev_token(
    secret: str = DEV_JWT_SECRET,
    sub: str = "dev-admin",
    roles: tuple[str, ...] = ("admin",),
    team: str = "dev",
) -> str:
    return issue_token(secret, sub, roles, team)
