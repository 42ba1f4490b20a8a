"""All SQL on organizations and contacts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.organizations.models import Contact, Organization

# Link each unlinked contact to the one organization of its team whose domain matches one of its
# e-mail domains; a contact with several candidate organizations is left alone.
_LINK_BY_DOMAIN = text(
    """
    WITH candidate AS (
        SELECT c.id AS contact_id, (array_agg(DISTINCT o.id))[1] AS organization_id,
               count(DISTINCT o.id) AS candidates
        FROM contact AS c
        JOIN organization AS o
          ON o.team = c.team
         AND o.domain <> ''
         AND o.domain IN (SELECT split_part(address, '@', 2) FROM unnest(c.emails) AS address)
        WHERE c.organization_id IS NULL
        GROUP BY c.id
    )
    UPDATE contact
       SET organization_id = candidate.organization_id, updated_at = now()
      FROM candidate
     WHERE contact.id = candidate.contact_id AND candidate.candidates = 1
    RETURNING contact.id
    """
)

MAX_CANDIDATES = 20


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_organization(self, organization: Organization) -> Organization:
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def get_organization(
        self, organization_id: uuid.UUID, *, for_update: bool = False
    ) -> Organization | None:
        if for_update:
            stmt = select(Organization).where(Organization.id == organization_id).with_for_update()
            return (await self.session.scalars(stmt)).first()
        return await self.session.get(Organization, organization_id)

    async def add_contact(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def get_contact(self, contact_id: uuid.UUID, *, for_update: bool = False) -> Contact | None:
        if for_update:
            stmt = select(Contact).where(Contact.id == contact_id).with_for_update()
            return (await self.session.scalars(stmt)).first()
        return await self.session.get(Contact, contact_id)

    async def link_contacts_by_domain(self) -> list[uuid.UUID]:
        return list((await self.session.scalars(_LINK_BY_DOMAIN)).all())

    async def find_organizations(
        self,
        *,
        team: str | None,
        domains: Sequence[str] = (),
        name_key: str = "",
        phones: Sequence[str] = (),
        exclude: uuid.UUID | None = None,
    ) -> list[tuple[Organization, set[str]]]:
        """Organizations (of ``team`` when given) sharing a domain, the company key or a phone, with what
        matched; oldest first."""
        criteria: list[ColumnElement[bool]] = []
        if domains:
            criteria.append(Organization.domain.in_(list(domains)))
        if name_key:
            criteria.append(Organization.name_key == name_key)
        if phones:
            criteria.append(Organization.phone_numbers.overlap(list(phones)))
        if not criteria:
            return []
        stmt = select(Organization).where(or_(*criteria))
        if team is not None:
            stmt = stmt.where(Organization.team == team)
        if exclude is not None:
            stmt = stmt.where(Organization.id != exclude)
        stmt = stmt.order_by(Organization.created_at, Organization.id).limit(MAX_CANDIDATES)
        found: list[tuple[Organization, set[str]]] = []
        for org in (await self.session.scalars(stmt)).all():
            matched: set[str] = set()
            if org.domain and org.domain in domains:
                matched.add("domain")
            if name_key and org.name_key == name_key:
                matched.add("company")
            if set(org.phone_numbers) & set(phones):
                matched.add("phone")
            if matched:
                found.append((org, matched))
        return found

    async def find_contacts(
        self,
        *,
        team: str | None,
        emails: Sequence[str] = (),
        phones: Sequence[str] = (),
        full_name: str = "",
        organization_id: uuid.UUID | None = None,
        exclude: uuid.UUID | None = None,
    ) -> list[tuple[Contact, set[str]]]:
        """Contacts sharing an e-mail or a phone (or, within one organization, the full name)."""
        name = func.lower(func.trim(Contact.first_name + " " + Contact.last_name))
        criteria: list[ColumnElement[bool]] = []
        if emails:
            criteria.append(Contact.emails.overlap(list(emails)))
        if phones:
            criteria.append(Contact.phone_numbers.overlap(list(phones)))
        if full_name and organization_id is not None:
            criteria.append((name == full_name.lower()) & (Contact.organization_id == organization_id))
        if not criteria:
            return []
        stmt = select(Contact).where(or_(*criteria))
        if team is not None:
            stmt = stmt.where(Contact.team == team)
        if exclude is not None:
            stmt = stmt.where(Contact.id != exclude)
        stmt = stmt.order_by(Contact.created_at, Contact.id).limit(MAX_CANDIDATES)
        found: list[tuple[Contact, set[str]]] = []
        for contact in (await self.session.scalars(stmt)).all():
            matched: set[str] = set()
            if set(contact.emails) & set(emails):
                matched.add("email")
            if set(contact.phone_numbers) & set(phones):
                matched.add("phone")
            own = f"{contact.first_name} {contact.last_name}".strip().lower()
            if full_name and organization_id is not None and contact.organization_id == organization_id:
                if own == full_name.lower():
                    matched.add("name")
            if matched:
                found.append((contact, matched))
        return found

    async def search_organizations(
        self,
        visible: ColumnElement[bool],
        *,
        q: str | None,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Organization]:
        stmt = select(Organization).where(visible)
        if q:
            like = f"%{q.lower()}%"
            stmt = stmt.where(or_(func.lower(Organization.name).like(like), Organization.domain.like(like)))
        if after is not None:
            stmt = stmt.where(tuple_(Organization.created_at, Organization.id) < tuple_(*after))
        stmt = stmt.order_by(Organization.created_at.desc(), Organization.id.desc()).limit(limit)
        return list((await self.session.scalars(stmt)).all())

    async def search_contacts(
        self,
        visible: ColumnElement[bool],
        *,
        organization_id: uuid.UUID | None,
        q: str | None,
        after: tuple[dt.datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[Contact]:
        stmt = select(Contact).where(visible)
        if organization_id is not None:
            stmt = stmt.where(Contact.organization_id == organization_id)
        if q:
            like = f"%{q.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(Contact.first_name + " " + Contact.last_name).like(like),
                    Contact.emails.contains([q.lower()]),
                )
            )
        if after is not None:
            stmt = stmt.where(tuple_(Contact.created_at, Contact.id) < tuple_(*after))
        stmt = stmt.order_by(Contact.created_at.desc(), Contact.id.desc()).limit(limit)
        return list((await self.session.scalars(stmt)).all())
