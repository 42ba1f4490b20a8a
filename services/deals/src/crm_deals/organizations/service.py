"""Organizations and contacts: normalise, detect duplicates (linked, never blocked), store, emit events
carrying phones. Also the create/fill primitives lead conversion builds on. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from crm_platform.auth import Principal
from crm_platform.contact_points import company_key, normalise_domain, normalise_email, normalise_phone
from crm_platform.errors import Forbidden, ValidationFailed
from crm_platform.ids import new_id
from crm_platform.outbox import add_event
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.access import can_see, decode_cursor, default_owner, encode_cursor, visible_to
from crm_deals.db import tables
from crm_deals.organizations import events
from crm_deals.organizations.exceptions import ContactNotFound, OrganizationNotFound
from crm_deals.organizations.matching import company_domains, rank
from crm_deals.organizations.models import Contact, Organization
from crm_deals.organizations.repository import OrganizationRepository
from crm_deals.organizations.schemas import (
    ContactCreate,
    ContactUpdate,
    DuplicateOut,
    OrganizationCreate,
    OrganizationUpdate,
    PhoneIn,
)

ADDRESS_FIELDS = ("street", "city", "region", "postal_code", "country")
ORGANIZATION_FILLABLE = ("domain", "industry", "description", *ADDRESS_FIELDS)
CONTACT_FILLABLE = ("first_name", "last_name", "title", *ADDRESS_FIELDS)


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

    def text(self, name: str, raw: str) -> str:
        if "\x00" in raw:
            self.errors[name] = "may not contain NUL characters"
            return ""
        return raw.strip() if name != "description" else raw

    def country(self, raw: str) -> str:
        country = raw.strip().upper()
        if country and (len(country) != 2 or not country.isascii() or not country.isalpha()):
            self.errors["country"] = "must be an ISO 3166-1 alpha-2 code"
        return country

    def check(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def _duplicates(found: list[tuple[Any, set[str]]], name: Any) -> list[DuplicateOut]:
    ordered = sorted(found, key=lambda x: rank(x[1]))
    return [DuplicateOut(id=rec.id, name=name(rec), matched_on=sorted(on)) for rec, on in ordered]


def _org_name(org: Organization) -> str:
    return org.name


def _contact_name(contact: Contact) -> str:
    return events.display_name(contact)


class OrganizationService:
    def __init__(self, session: AsyncSession, default_region: str = "IR") -> None:
        self.session = session
        self.repo = OrganizationRepository(session)
        self.default_region = default_region

    # --- primitives (also used by lead conversion) ---------------------------------------------------
    async def new_organization(self, values: dict[str, Any], owner_id: str | None, team: str) -> Organization:
        phones = values.get("phones", [])
        organization = Organization(
            id=new_id(),
            **{k: v for k, v in values.items() if k != "phones"},
            phones=phones,
            phone_numbers=[p["e164"] for p in phones],
            name_key=company_key(values["name"]),
            owner_id=owner_id,
            team=team,
        )
        await self.repo.add_organization(organization)
        await self._emit(events.ORGANIZATION_CREATED, events.organization_created(organization), organization)
        return organization

    async def new_contact(self, values: dict[str, Any], owner_id: str | None, team: str) -> Contact:
        phones = values.get("phones", [])
        contact = Contact(
            id=new_id(),
            **{k: v for k, v in values.items() if k != "phones"},
            phones=phones,
            phone_numbers=[p["e164"] for p in phones],
            owner_id=owner_id,
            team=team,
        )
        await self.repo.add_contact(contact)
        await self._emit(events.CONTACT_CREATED, events.contact_created(contact), contact)
        return contact

    @staticmethod
    def fill_plan(
        record: Organization | Contact, values: dict[str, Any], fillable: Sequence[str]
    ) -> list[str]:
        """Fields of ``record`` that ``values`` would fill: only empty ones, plus new e-mails and phones
        (Salesforce's rule: existing values are never overwritten)."""
        changed = [f for f in fillable if values.get(f) and not getattr(record, f)]
        if any(e not in record.emails for e in values.get("emails", [])):
            changed.append("emails")
        if any(p["e164"] not in record.phone_numbers for p in values.get("phones", [])):
            changed.append("phones")
        return changed

    async def fill(
        self, record: Organization | Contact, values: dict[str, Any], also_changed: Sequence[str] = ()
    ) -> list[str]:
        """Fill empty fields and add missing e-mails/phones; emit an updated event when anything changed
        (``also_changed``: fields the caller already set)."""
        fillable = ORGANIZATION_FILLABLE if isinstance(record, Organization) else CONTACT_FILLABLE
        changed = self.fill_plan(record, values, fillable)
        for name in changed:
            if name == "emails":
                record.emails = [*record.emails, *(e for e in values["emails"] if e not in record.emails)]
            elif name == "phones":
                new = [p for p in values["phones"] if p["e164"] not in record.phone_numbers]
                record.phones = [*record.phones, *new]
                record.phone_numbers = [p["e164"] for p in record.phones]
            else:
                setattr(record, name, values[name])
        changed += [c for c in also_changed if c not in changed]
        if changed:
            await self._updated(record, changed)
        return changed

    async def _updated(self, record: Organization | Contact, changed: list[str]) -> None:
        await self.session.flush()
        if isinstance(record, Organization):
            await self._emit(
                events.ORGANIZATION_UPDATED, events.organization_updated(record, changed), record
            )
        else:
            await self._emit(events.CONTACT_UPDATED, events.contact_updated(record, changed), record)

    async def _emit(self, subject: str, message: Any, record: Organization | Contact) -> None:
        await add_event(self.session, tables, subject, message, producer="deals", aggregate_id=str(record.id))

    # --- organizations ---------------------------------------------------------------------------------
    def _organization_values(
        self, data: OrganizationCreate | OrganizationUpdate
    ) -> tuple[dict[str, Any], _Fields]:
        fields = _Fields(data.default_region or self.default_region)
        sent = (
            data.model_dump(exclude_unset=True) if isinstance(data, OrganizationUpdate) else data.model_dump()
        )
        values: dict[str, Any] = {}
        for name in ("name", "industry", "description", "street", "city", "region", "postal_code"):
            if name in sent:
                if sent[name] is None:
                    fields.errors[name] = "may not be null"
                    continue
                values[name] = fields.text(name, sent[name])
        if "name" in values and not values["name"]:
            fields.errors["name"] = "an organization needs a name"
        if "domain" in sent:
            values["domain"] = fields.domain(sent["domain"] or "")
        if "country" in sent:
            values["country"] = fields.country(sent["country"] or "")
        if "emails" in sent:
            values["emails"] = fields.emails(data.emails or [])
        if "phones" in sent:
            values["phones"] = fields.phones(data.phones or [])
        return values, fields

    async def create_organization(
        self, data: OrganizationCreate, who: Principal
    ) -> tuple[Organization, list[DuplicateOut]]:
        values, fields = self._organization_values(data)
        fields.check()
        organization = await self.new_organization(values, default_owner(who), who.team)
        duplicates = await self.organization_duplicates(organization)
        return organization, duplicates

    async def organization_duplicates(self, organization: Organization) -> list[DuplicateOut]:
        domains = company_domains(organization.emails, organization.domain)
        found = await self.repo.find_organizations(
            team=organization.team,
            domains=domains,
            name_key=organization.name_key,
            phones=organization.phone_numbers,
            exclude=organization.id,
        )
        return _duplicates(found, _org_name)

    async def get_organization(
        self, organization_id: uuid.UUID, who: Principal, *, for_update: bool = False
    ) -> Organization:
        organization = await self.repo.get_organization(organization_id, for_update=for_update)
        if organization is None or not can_see(who, organization.owner_id, organization.team):
            raise OrganizationNotFound(f"organization {organization_id} does not exist or is not yours")
        return organization

    async def update_organization(
        self, organization_id: uuid.UUID, patch: OrganizationUpdate, who: Principal
    ) -> Organization:
        organization = await self.get_organization(organization_id, who, for_update=True)
        values, fields = self._organization_values(patch)
        if "owner_id" in patch.model_fields_set:
            if not (who.is_admin or who.is_manager):
                raise Forbidden("only admins and managers change owners")
            values["owner_id"] = patch.owner_id or None
        fields.check()
        changed = self._apply(organization, values)
        if "name" in changed:
            organization.name_key = company_key(organization.name)
        if changed:
            await self._updated(organization, changed)
        return organization

    @staticmethod
    def _apply(record: Organization | Contact, values: dict[str, Any]) -> list[str]:
        changed = []
        for name, value in values.items():
            if getattr(record, name) != value:
                setattr(record, name, value)
                changed.append(name)
                if name == "phones":
                    record.phone_numbers = [p["e164"] for p in value]
        return changed

    async def search_organizations(
        self, who: Principal, *, q: str | None, cursor: str | None, limit: int
    ) -> tuple[list[Organization], str | None]:
        after = decode_cursor(cursor) if cursor else None
        rows = await self.repo.search_organizations(
            visible_to(Organization, who), q=q, after=after, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)

    # --- contacts --------------------------------------------------------------------------------------
    def _contact_values(self, data: ContactCreate | ContactUpdate) -> tuple[dict[str, Any], _Fields]:
        fields = _Fields(data.default_region or self.default_region)
        sent = data.model_dump(exclude_unset=True) if isinstance(data, ContactUpdate) else data.model_dump()
        values: dict[str, Any] = {}
        for name in ("first_name", "last_name", "title", "street", "city", "region", "postal_code"):
            if name in sent:
                if sent[name] is None:
                    fields.errors[name] = "may not be null"
                    continue
                values[name] = fields.text(name, sent[name])
        if "country" in sent:
            values["country"] = fields.country(sent["country"] or "")
        if "emails" in sent:
            values["emails"] = fields.emails(data.emails or [])
        if "phones" in sent:
            values["phones"] = fields.phones(data.phones or [])
        return values, fields

    async def _check_organization(
        self, organization_id: uuid.UUID | None, who: Principal, fields: _Fields
    ) -> None:
        if organization_id is None:
            return
        organization = await self.repo.get_organization(organization_id)
        if organization is None or not can_see(who, organization.owner_id, organization.team):
            fields.errors["organization_id"] = "no such organization"

    async def create_contact(self, data: ContactCreate, who: Principal) -> tuple[Contact, list[DuplicateOut]]:
        values, fields = self._contact_values(data)
        if (
            not (
                values.get("first_name")
                or values.get("last_name")
                or values.get("emails")
                or values.get("phones")
            )
            and not fields.errors
        ):
            fields.errors["name"] = "a contact needs a name, an e-mail or a phone"
        await self._check_organization(data.organization_id, who, fields)
        fields.check()
        values["organization_id"] = data.organization_id
        contact = await self.new_contact(values, default_owner(who), who.team)
        return contact, await self.contact_duplicates(contact)

    async def contact_duplicates(self, contact: Contact) -> list[DuplicateOut]:
        found = await self.repo.find_contacts(
            team=contact.team,
            emails=contact.emails,
            phones=contact.phone_numbers,
            full_name=f"{contact.first_name} {contact.last_name}".strip(),
            organization_id=contact.organization_id,
            exclude=contact.id,
        )
        return _duplicates(found, _contact_name)

    async def get_contact(
        self, contact_id: uuid.UUID, who: Principal, *, for_update: bool = False
    ) -> Contact:
        contact = await self.repo.get_contact(contact_id, for_update=for_update)
        if contact is None or not can_see(who, contact.owner_id, contact.team):
            raise ContactNotFound(f"contact {contact_id} does not exist or is not yours")
        return contact

    async def update_contact(self, contact_id: uuid.UUID, patch: ContactUpdate, who: Principal) -> Contact:
        contact = await self.get_contact(contact_id, who, for_update=True)
        values, fields = self._contact_values(patch)
        if "organization_id" in patch.model_fields_set:
            await self._check_organization(patch.organization_id, who, fields)
            values["organization_id"] = patch.organization_id
        if "owner_id" in patch.model_fields_set:
            if not (who.is_admin or who.is_manager):
                raise Forbidden("only admins and managers change owners")
            values["owner_id"] = patch.owner_id or None
        fields.check()
        changed = self._apply(contact, values)
        if changed:
            await self._updated(contact, changed)
        return contact

    async def search_contacts(
        self,
        who: Principal,
        *,
        organization_id: uuid.UUID | None,
        q: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Contact], str | None]:
        after = decode_cursor(cursor) if cursor else None
        rows = await self.repo.search_contacts(
            visible_to(Contact, who), organization_id=organization_id, q=q, after=after, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)

    async def link_contacts_by_domain(self) -> list[uuid.UUID]:
        """Attach unlinked contacts to their team's organization with their e-mail domain."""
        return await self.repo.link_contacts_by_domain()
