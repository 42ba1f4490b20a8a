"""Recipient directory: users (maintained over REST) and notify's projection of lead contact points;
resolves a CRM record reference into an address on a channel. Flushes, never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import ValidationFailed
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.addresses import normalise
from crm_notify.directory.exceptions import LeadContactNotFound, LeadNotProjectedYet, UserContactNotFound
from crm_notify.directory.models import LeadContact, UserContact
from crm_notify.directory.repository import DirectoryRepository
from crm_notify.directory.schemas import UserContactIn

CHANNEL_ORDER = ("email", "sms", "fax")
COUNTRY_LOCALES = {"IR": "fa", "IL": "he", "HU": "hu"}
COUNTRY_ZONES = {"IR": "Asia/Tehran", "IL": "Asia/Jerusalem", "HU": "Europe/Budapest"}


@dataclass(frozen=True)
class Recipient:
    channel: str
    address: str
    locale: str
    timezone: str
    name: str = ""
    flags: dict[str, bool] = field(default_factory=dict)
    record: tuple[str, str, str] = ("", "", "")
    data: dict[str, Any] = field(default_factory=dict)


def _user_addresses(user: UserContact) -> dict[str, str | None]:
    return {"email": user.email, "sms": user.phone, "fax": user.fax}


def _lead_addresses(lead: LeadContact) -> dict[str, str | None]:
    phones = lead.phones or []
    mobile = next((p["e164"] for p in phones if p.get("kind") == "mobile"), None)
    fax = next((p["e164"] for p in phones if p.get("kind") == "fax"), None)
    any_phone = next((p["e164"] for p in phones if p.get("kind") != "fax"), None)
    return {"email": lead.emails[0] if lead.emails else None, "sms": mobile or any_phone, "fax": fax}


def pick_channel(addresses: dict[str, str | None], channel: str, preferred: str | None) -> str:
    if channel != "preferred":
        return channel
    order = ([preferred] if preferred else []) + [c for c in CHANNEL_ORDER if c != preferred]
    for candidate in order:
        if addresses.get(candidate):
            return candidate
    return preferred or "email"


class DirectoryService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = DirectoryRepository(session)

    # --- users ------------------------------------------------------------------------------------
    async def put_user(self, user_id: str, data: UserContactIn, who: Principal, region: str) -> UserContact:
        if not (who.is_admin or who.subject == user_id):
            who.require("admin")
        values = data.model_dump()
        errors: dict[str, str] = {}
        for key, channel in (("email", "email"), ("phone", "sms"), ("fax", "fax")):
            if values[key]:
                try:
                    values[key] = normalise(channel, values[key], region, key)
                except ValidationFailed as exc:
                    errors.update(exc.field_errors)
        if errors:
            raise ValidationFailed(errors)
        return await self.repo.upsert_user({"user_id": user_id, "updated_at": utcnow(), **values})

    async def get_user(self, user_id: str, who: Principal) -> UserContact:
        user = await self.repo.user(user_id)
        if user is None:
            raise UserContactNotFound(f"user {user_id} is not in the directory")
        return user

    async def users(self, who: Principal, limit: int) -> list[UserContact]:
        who.require("admin", "manager")
        return await self.repo.users(limit)

    async def delete_user(self, user_id: str, who: Principal) -> None:
        who.require("admin")
        await self.repo.delete_user(await self.get_user(user_id, who))

    async def get_lead(self, lead_id: uuid.UUID, who: Principal) -> LeadContact:
        who.require("admin", "manager")
        lead = await self.repo.lead(lead_id)
        if lead is None:
            raise LeadContactNotFound(f"lead {lead_id} is not in notify's directory")
        return lead

    # --- projection -------------------------------------------------------------------------------
    async def project_lead(self, values: dict[str, Any], as_of: dt.datetime) -> bool:
        return await self.repo.upsert_lead({**values, "as_of": as_of})

    # --- resolution -------------------------------------------------------------------------------
    async def resolve(
        self, service: str, record_type: str, record_id: str, channel: str, *, wait_for_lead: bool = False
    ) -> Recipient:
        """Address of a record on ``channel`` ("preferred" picks one); ValidationFailed when it has none."""
        if (service, record_type) in (("notify", "user"), ("", "user")):
            user = await self.repo.user(record_id)
            if user is None:
                raise ValidationFailed({"record": f"user {record_id} is not in the notify directory"})
            addresses = _user_addresses(user)
            chosen = pick_channel(addresses, channel, user.preferred_channel)
            address = addresses.get(chosen)
            if not address:
                raise ValidationFailed({"record": f"user {record_id} has no {chosen} address"})
            return Recipient(
                chosen,
                address,
                user.locale,
                user.timezone,
                user.display_name,
                record=("notify", "user", record_id),
                data={"user": {"id": user.user_id, "name": user.display_name}},
            )
        if (service, record_type) == ("leads", "lead"):
            try:
                lead_id = uuid.UUID(record_id)
            except ValueError:
                raise ValidationFailed({"record.id": "must be a UUID"}) from None
            lead = await self.repo.lead(lead_id)
            if lead is None:
                if wait_for_lead:
                    raise LeadNotProjectedYet(f"lead {record_id} not projected yet")
                raise ValidationFailed({"record": f"lead {record_id} is not known to notify"})
            addresses = _lead_addresses(lead)
            chosen = pick_channel(addresses, channel, None)
            address = addresses.get(chosen)
            if not address:
                raise ValidationFailed({"record": f"lead {record_id} has no {chosen} address"})
            return Recipient(
                chosen,
                address,
                COUNTRY_LOCALES.get(lead.country, "en"),
                COUNTRY_ZONES.get(lead.country, "UTC"),
                lead.name,
                flags={
                    "do_not_email": lead.do_not_email,
                    "do_not_call": lead.do_not_call,
                    "do_not_fax": lead.do_not_fax,
                },
                record=("leads", "lead", record_id),
                data={
                    "lead": {
                        "id": record_id,
                        "name": lead.name,
                        "company": lead.company,
                        "status": lead.status,
                        "owner_id": lead.owner_id,
                    }
                },
            )
        raise ValidationFailed({"record": f"notify cannot resolve {service}/{record_type} records"})

    async def lead_summary(self, lead_id: str) -> dict[str, Any]:
        """What templates may say about a lead (empty values when notify has not seen it)."""
        lead = None
        try:
            lead = await self.repo.lead(uuid.UUID(lead_id))
        except ValueError:
            pass
        return {
            "id": lead_id,
            "known": lead is not None,
            "name": lead.name if lead else "",
            "company": lead.company if lead else "",
            "status": lead.status if lead else "",
            "owner_id": lead.owner_id if lead else None,
        }

    async def lead_flags(self, lead_id: str) -> dict[str, bool]:
        try:
            lead = await self.repo.lead(uuid.UUID(lead_id))
        except ValueError:
            return {}
        if lead is None:
            return {}
        return {
            "do_not_email": lead.do_not_email,
            "do_not_call": lead.do_not_call,
            "do_not_fax": lead.do_not_fax,
        }
