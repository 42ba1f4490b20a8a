"""Subjects the phonebook consumes, and what each event means for the phone index."""

from __future__ import annotations

import datetime as dt

from crm.common.v1 import event_pb2
from crm.deals.v1 import deals_pb2
from crm.deals.v1 import events_pb2 as deals_events
from crm.leads.v1 import events_pb2 as leads_events
from crm_platform.inbox import EventContext
from crm_platform.outbox import HEADER_OCCURRED_AT

from crm_telephony.phonebook.schemas import IndexedRecord

LEAD_CREATED = "crm.leads.lead.created"
LEAD_UPDATED = "crm.leads.lead.updated"
LEAD_MERGED = "crm.leads.lead.merged"
CONTACT_CREATED = "crm.deals.contact.created"
CONTACT_UPDATED = "crm.deals.contact.updated"
ORGANIZATION_CREATED = "crm.deals.organization.created"
ORGANIZATION_UPDATED = "crm.deals.organization.updated"


def occurred_at(metadata: event_pb2.EventMetadata, ctx: EventContext) -> dt.datetime | None:
    """When the fact happened (the envelope, else the Crm-Occurred-At header); None when unknown."""
    if metadata.HasField("occurred_at"):
        return metadata.occurred_at.ToDatetime(tzinfo=dt.UTC)
    header = ctx.headers.get(HEADER_OCCURRED_AT)
    if header:
        try:
            when = dt.datetime.fromisoformat(header)
        except ValueError:
            return None
        return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return None


def lead_record(
    event: leads_events.LeadCreated | leads_events.LeadUpdated | leads_events.LeadMerged,
) -> IndexedRecord:
    """The lead as the event carries it (after the change; for a merge, the surviving lead)."""
    lead = event.lead
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.company
    return IndexedRecord(
        service="leads",
        record_type="lead",
        record_id=lead.id,
        display_name=name[:300],
        owner_id=lead.owner_id or None,
        phones=[p.e164 for p in lead.phones],
    )


def contact_record(event: deals_events.ContactCreated) -> IndexedRecord:
    return IndexedRecord(
        service="deals",
        record_type="contact",
        record_id=event.contact_id,
        display_name=event.display_name[:300],
        owner_id=event.owner_id or None,
        phones=[p.e164 for p in event.phones],
    )


def updated_contact_record(event: deals_events.ContactUpdated) -> IndexedRecord:
    contact = event.contact
    return IndexedRecord(
        service="deals",
        record_type="contact",
        record_id=contact.id,
        display_name=event.display_name[:300],
        owner_id=contact.owner_id or None,
        phones=[p.e164 for p in contact.phones],
    )


def organization_record(organization: deals_pb2.Organization) -> IndexedRecord:
    return IndexedRecord(
        service="deals",
        record_type="organization",
        record_id=organization.id,
        display_name=organization.name[:300],
        owner_id=organization.owner_id or None,
        phones=[p.e164 for p in organization.phones],
    )
