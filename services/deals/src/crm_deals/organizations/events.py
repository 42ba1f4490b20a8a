"""Subjects and builders for the organization/contact events, and proto conversions."""

from __future__ import annotations

from crm.deals.v1 import deals_pb2, events_pb2
from crm_platform.contact_points import phones_to_proto

from crm_deals.organizations.models import Contact, Organization

CONTACT_CREATED = "crm.deals.contact.created"
CONTACT_UPDATED = "crm.deals.contact.updated"
ORGANIZATION_CREATED = "crm.deals.organization.created"
ORGANIZATION_UPDATED = "crm.deals.organization.updated"


def display_name(contact: Contact) -> str:
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    return name or (contact.emails[0] if contact.emails else "")


def address_to_proto(record: Organization | Contact) -> deals_pb2.Address:
    return deals_pb2.Address(
        street=record.street,
        city=record.city,
        region=record.region,
        postal_code=record.postal_code,
        country=record.country,
    )


def organization_to_proto(organization: Organization) -> deals_pb2.Organization:
    return deals_pb2.Organization(
        id=str(organization.id),
        name=organization.name,
        domain=organization.domain,
        phones=phones_to_proto(organization.phones),
        owner_id=organization.owner_id or "",
        team=organization.team,
        emails=list(organization.emails),
        address=address_to_proto(organization),
        buyer_status=organization.buyer_status,
    )


def contact_to_proto(contact: Contact) -> deals_pb2.Contact:
    return deals_pb2.Contact(
        id=str(contact.id),
        organization_id=str(contact.organization_id or ""),
        first_name=contact.first_name,
        last_name=contact.last_name,
        emails=list(contact.emails),
        phones=phones_to_proto(contact.phones),
        owner_id=contact.owner_id or "",
        team=contact.team,
        title=contact.title,
        address=address_to_proto(contact),
        buyer_status=contact.buyer_status,
    )


def contact_created(contact: Contact) -> events_pb2.ContactCreated:
    return events_pb2.ContactCreated(
        contact_id=str(contact.id),
        display_name=display_name(contact),
        phones=phones_to_proto(contact.phones),
        owner_id=contact.owner_id or "",
        contact=contact_to_proto(contact),
    )


def contact_updated(contact: Contact, changed: list[str]) -> events_pb2.ContactUpdated:
    return events_pb2.ContactUpdated(
        contact=contact_to_proto(contact), display_name=display_name(contact), changed_fields=sorted(changed)
    )


def organization_created(organization: Organization) -> events_pb2.OrganizationCreated:
    return events_pb2.OrganizationCreated(organization=organization_to_proto(organization))


def organization_updated(organization: Organization, changed: list[str]) -> events_pb2.OrganizationUpdated:
    return events_pb2.OrganizationUpdated(
        organization=organization_to_proto(organization), changed_fields=sorted(changed)
    )
