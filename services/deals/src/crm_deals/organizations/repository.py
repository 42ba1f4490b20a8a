from __future__ import annotations

import uuid

from sqlalchemy import text
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


class OrganizationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_organization(self, organization: Organization) -> Organization:
        self.session.add(organization)
        await self.session.flush()
        return organization

    async def get_organization(self, organization_id: uuid.UUID) -> Organization | None:
        return await self.session.get(Organization, organization_id)

    async def add_contact(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def get_contact(self, contact_id: uuid.UUID) -> Contact | None:
        return await self.session.get(Contact, contact_id)

    async def link_contacts_by_domain(self) -> list[uuid.UUID]:
        return list((await self.session.scalars(_LINK_BY_DOMAIN)).all())
