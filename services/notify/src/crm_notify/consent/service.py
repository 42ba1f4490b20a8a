"""Consent and preferences per contact point (channel + address) x purpose, and the send-time decision.

* transactional: sent unless the address opted out of transactional messages (rare; e.g. do-not-fax).
* service: sent unless opted out; quiet hours apply.
* marketing: needs a confirmed opt-in (double opt-in: a pending request becomes opted_in only through the
  link in the confirmation message); quiet hours apply; every marketing e-mail carries an unsubscribe link.
Quiet hours are local to the contact point's time zone; a message inside them waits until they end.
Flushes, never commits."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.consent.exceptions import InvalidLinkToken
from crm_notify.consent.models import PURPOSES, Consent, ContactPoint
from crm_notify.consent.repository import ConsentRepository
from crm_notify.consent.schemas import ConsentIn, PreferencesIn

QUIET_HOURS_PURPOSES = ("service", "marketing")
EDITOR_ROLES = ("admin", "manager", "rep")


@dataclass(frozen=True)
class Decision:
    action: str  # send | suppress | defer
    reason: str = ""
    until: dt.datetime | None = None


def in_quiet_hours(
    now: dt.datetime, tz: str, start: dt.time | None, end: dt.time | None
) -> dt.datetime | None:
    """When ``now`` falls in the local quiet window [start, end) (which may wrap midnight), the UTC
    instant it ends; else None."""
    if start is None or end is None or start == end:
        return None
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    wraps = start > end
    inside = (start <= t or t < end) if wraps else (start <= t < end)
    if not inside:
        return None
    end_day = local.date()
    if wraps and t >= start:
        end_day = end_day + dt.timedelta(days=1)
    ends = dt.datetime.combine(end_day, end, tzinfo=zone)
    return ends.astimezone(dt.UTC)


# --- signed links ------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(secret: str, channel: str, address: str, purpose: str) -> str:
    payload = f"{channel}|{purpose}|{address}".encode()
    sig = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(sig)}"


def read_unsubscribe_token(secret: str, token: str) -> tuple[str, str, str]:
    try:
        payload_b64, sig_b64 = token.split(".", 1)
        payload = _unb64(payload_b64)
        expected = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(expected, _unb64(sig_b64)):
            raise ValueError("bad signature")
        channel, purpose, address = payload.decode().split("|", 2)
    except (ValueError, UnicodeDecodeError):
        raise InvalidLinkToken("this unsubscribe link is not valid") from None
    return channel, address, purpose


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ConsentService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = ConsentRepository(session)

    async def preferences(self, channel: str, address: str) -> tuple[ContactPoint | None, list[Consent]]:
        return await self.repo.contact_point(channel, address), await self.repo.consents(channel, address)

    async def set_preferences(
        self, channel: str, address: str, data: PreferencesIn, who: Principal
    ) -> ContactPoint:
        who.require(*EDITOR_ROLES)
        if (data.quiet_start is None) != (data.quiet_end is None):
            raise ValidationFailed({"quiet_end": "quiet hours need both a start and an end"})
        now = utcnow()
        return await self.repo.upsert_contact_point(
            {
                "id": new_id(),
                "channel": channel,
                "address": address,
                "created_at": now,
                "updated_at": now,
                **data.model_dump(),
            }
        )

    async def set_consent(
        self, channel: str, address: str, purpose: str, data: ConsentIn, who: Principal
    ) -> Consent:
        who.require(*EDITOR_ROLES)
        if purpose not in PURPOSES:
            raise ValidationFailed({"purpose": f"must be one of {', '.join(PURPOSES)}"})
        if data.status == "opted_in" and purpose == "marketing" and not data.source:
            raise ValidationFailed(
                {
                    "source": "a marketing opt-in set directly must name its source (else use the double opt-in)"  # noqa: E501
                }
            )
        now = utcnow()
        return await self.repo.upsert_consent(
            {
                "id": new_id(),
                "channel": channel,
                "address": address,
                "purpose": purpose,
                "status": data.status,
                "source": data.source or who.subject,
                "reason": data.reason,
                "confirm_token_hash": None,
                "confirmed_at": now if data.status == "opted_in" else None,
                "created_at": now,
                "updated_at": now,
            }
        )

    async def opt_out(
        self, channel: str, address: str, purpose: str, source: str, reason: str = ""
    ) -> Consent:
        now = utcnow()
        return await self.repo.upsert_consent(
            {
                "id": new_id(),
                "channel": channel,
                "address": address,
                "purpose": purpose,
                "status": "opted_out",
                "source": source,
                "reason": reason,
                "confirm_token_hash": None,
                "created_at": now,
                "updated_at": now,
            }
        )

    async def request_marketing_opt_in(self, channel: str, address: str, source: str) -> tuple[Consent, str]:
        """A pending marketing consent and the one-time confirmation token (only its hash is stored)."""
        existing = await self.repo.consent(channel, address, "marketing", for_update=True)
        if existing is not None and existing.status == "opted_in":
            raise ValidationFailed({"purpose": "this address has already confirmed marketing consent"})
        token = secrets.token_urlsafe(24)
        now = utcnow()
        consent = await self.repo.upsert_consent(
            {
                "id": new_id(),
                "channel": channel,
                "address": address,
                "purpose": "marketing",
                "status": "pending",
                "source": source,
                "reason": "",
                "confirm_token_hash": _hash(token),
                "requested_at": now,
                "confirmed_at": None,
                "created_at": now,
                "updated_at": now,
            }
        )
        return consent, token

    async def confirm(self, token: str, max_age: dt.timedelta = dt.timedelta(days=7)) -> Consent:
        consent = await self.repo.by_token_hash(_hash(token))
        now = utcnow()
        if (
            consent is None
            or consent.status != "pending"
            or consent.requested_at is None
            or now - consent.requested_at > max_age
        ):
            raise InvalidLinkToken("this confirmation link is not valid or has expired")
        consent.status = "opted_in"
        consent.confirmed_at = now
        consent.confirm_token_hash = None
        consent.updated_at = now
        await self.session.flush()
        return consent

    async def decide(
        self, channel: str, address: str, purpose: str, now: dt.datetime, flags: dict[str, bool] | None = None
    ) -> Decision:
        """The send-time check: suppress (with the reason), defer (quiet hours) or send."""
        consent = await self.repo.consent(channel, address, purpose)
        point = await self.repo.contact_point(channel, address) if purpose in QUIET_HOURS_PURPOSES else None
        return decide(channel, purpose, now, consent, point, flags)

    async def decide_many(
        self, items: list[tuple[str, str, str, dict[str, bool] | None]], now: dt.datetime
    ) -> list[Decision]:
        """``decide`` for many (channel, address, purpose, flags) at once: two queries in all."""
        consents = await self.repo.consents_for([(c, a, p) for c, a, p, _ in items])
        points = await self.repo.contact_points_for(
            [(c, a) for c, a, p, _ in items if p in QUIET_HOURS_PURPOSES]
        )
        return [
            decide(c, p, now, consents.get((c, a, p)), points.get((c, a)), flags) for c, a, p, flags in items
        ]


def decide(
    channel: str,
    purpose: str,
    now: dt.datetime,
    consent: Consent | None,
    point: ContactPoint | None,
    flags: dict[str, bool] | None = None,
) -> Decision:
    """Suppress (opt-out, do-not-contact flag of the record, marketing without a confirmed opt-in),
    defer (quiet hours of the contact point, for service and marketing) or send."""
    if consent is not None and consent.status == "opted_out":
        return Decision("suppress", f"opted_out:{purpose}")
    do_not = {"email": "do_not_email", "sms": "do_not_call", "fax": "do_not_fax"}[channel]
    if flags and flags.get(do_not) and purpose != "transactional":
        return Decision("suppress", f"{do_not}:record")
    if purpose == "marketing":
        if consent is None:
            return Decision("suppress", "no_marketing_consent")
        if consent.status != "opted_in":
            return Decision("suppress", "marketing_opt_in_unconfirmed")
    if purpose in QUIET_HOURS_PURPOSES and point is not None:
        until = in_quiet_hours(now, point.timezone, point.quiet_start, point.quiet_end)
        if until is not None:
            return Decision("defer", f"quiet_hours until {until.isoformat()}", until)
    return Decision("send")
