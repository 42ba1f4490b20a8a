"""Organizations and contacts: normalise, store, emit events. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from crm_platform.auth import Principal
from crm_platform.contact_points import normalise_domain, normalise_email, normalise_phone
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from crm_platform.outbox import add_event
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.db import tables
from crm_deals.organizations import events
from crm_deals.organizations.exceptions import ContactNotFound, OrganizationNotFound
from crm_deals.organizations.models import Contact, Organization
from crm_deals.organizations.repository import OrganizationRepository
from crm_deals.organizations.schemas import ContactCreate, OrganizationCreate, PhoneIn


class _Fields:
    """Collects normalised values and every field error of one input."""

    def __init__(self, region: str) -> None:
        self.region = region.upper()
        self.errors: dict[str, str] = {}

    def phones(self, items: Sequence[PhoneIn]) -> list[dict[str, str]]:
        phones: list[dict[str, str]] = []
        for i, phone in enumerate(items):
            try:
                e164 = normalise_phone(phone.number, self.region)
            except ValueError as exc:
                self.errors[f"phones.{i}.number"] = str(exc)
                continue
            if all(p["e164"] != e164 for p in phones):
                phones.append({"e164": e164, "kind": phone.kind})
        return phones

    def emails(self, items: Sequence[str]) -> list[str]:
        emails: list[str] = []
        for i, raw in enumerate(items):
            try:
                email = normalise_email(raw)
            except ValueError as exc:
                self.errors[f"emails.{i}"] = str(exc)
                continue
            if email not in emails:
                emails.append(email)
        return emails

    def domain(self, raw: str) -> str:
        if not raw.strip():
            return ""
        try:
            return normalise_domain(raw)
        except ValueError as exc:
            self.errors["domain"] = str(exc)
            return ""

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def _owner(who: Principal) -> str | None:
    """Reps own what they create; records created by admins and managers start unassigned."""
    return None if who.is_admin or who.is_manager else who.subject


class OrganizationService:
    def __init__(self, session: AsyncSession, default_region: str = "IR") -> None:
        self.session = session
        self.repo = OrganizationRepository(session)
        self.default_region = default_region

    async def create_organization(self, data: OrganizationCreate, who: Principal) -> Organization:
        fields = _Fields(data.default_region or self.default_region)
        name = data.name.strip()
        if not name:
            fields.errors["name"] = "an organization needs a name"
        domain = fields.domain(data.domain)
        phones = fields.phones(data.phones)
        fields.check()
        organization = Organization(
            id=new_id(),
            name=name,
            domain=domain,
            phones=phones,
            owner_id=_owner(who),
            team=who.team,
        )
        return await self.repo.add_organization(organization)

    async def get_organization(self, organization_id: uuid.UUID, who: Principal) -> Organization:
        organization = await self.repo.get_organization(organization_id)
        if organization is None or not who.can_see(organization.owner_id, organization.team):
            raise OrganizationNotFound(f"organization {organization_id} does not exist or is not yours")
        return organization

    async def create_contact(self, data: ContactCreate, who: Principal) -> Contact:
        fields = _Fields(data.default_region or self.default_region)
        emails = fields.emails(data.emails)
        phones = fields.phones(data.phones)
        first, last = data.first_name.strip(), data.last_name.strip()
        if not (first or last or emails or phones) and not fields.errors:
            fields.errors["name"] = "a contact needs a name, an e-mail or a phone"
        if data.organization_id is not None:
            organization = await self.repo.get_organization(data.organization_id)
            if organization is None or not who.can_see(organization.owner_id, organization.team):
                fields.errors["organization_id"] = "no such organization"
        fields.check()
        contact = Contact(
            id=new_id(),
            organization_id=data.organization_id,
            first_name=first,
            last_name=last,
            emails=emails,
            phones=phones,
            owner_id=_owner(who),
            team=who.team,
        )
        await self.repo.add_contact(contact)
        await add_event(
            self.session,
            tables,
            events.CONTACT_CREATED,
            events.contact_created(contact),
            producer="deals",
            aggregate_id=str(contact.id),
        )
        return contact

    async def get_contact(self, contact_id: uuid.UUID, who: Principal) -> Contact:
        contact = await self.repo.get_contact(contact_id)
        if contact is None or not who.can_see(contact.owner_id, contact.team):
            raise ContactNotFound(f"contact {contact_id} does not exist or is not yours")
        return contact

    async def link_contacts_by_domain(self) -> list[uuid.UUID]:
        """Attach unlinked contacts to their team's organization with their e-mail domain."""
        return await self.repo.link_contacts_by_domain()
