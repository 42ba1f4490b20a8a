"""Subjects and builders for the events the deals service publishes, and proto conversions."""

from __future__ import annotations

from typing import Any

from crm.common.v1 import contact_point_pb2
from crm.deals.v1 import deals_pb2, events_pb2

from crm_deals.organizations.models import Contact, Organization

CONTACT_CREATED = "crm.deals.contact.created"


def phone_to_proto(phone: dict[str, Any]) -> contact_point_pb2.Phone:
    kind = contact_point_pb2.PhoneKind.Value(f"PHONE_KIND_{phone.get('kind', 'work').upper()}")
    return contact_point_pb2.Phone(e164=phone["e164"], kind=kind)


def display_name(contact: Contact) -> str:
    name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
    return name or (contact.emails[0] if contact.emails else "")


def organization_to_proto(organization: Organization) -> deals_pb2.Organization:
    return deals_pb2.Organization(
        id=str(organization.id),
        name=organization.name,
        domain=organization.domain,
        phones=[phone_to_proto(p) for p in organization.phones],
        owner_id=organization.owner_id or "",
    )


def contact_created(contact: Contact) -> events_pb2.ContactCreated:
    return events_pb2.ContactCreated(
        contact_id=str(contact.id),
        display_name=display_name(contact),
        phones=[phone_to_proto(p) for p in contact.phones],
        owner_id=contact.owner_id or "",
    )
