"""Subjects the phonebook consumes, and what each event means for the phone index."""

from __future__ import annotations

from crm.deals.v1 import events_pb2 as deals_events
from crm.leads.v1 import events_pb2 as leads_events

from crm_telephony.phonebook.schemas import IndexedRecord

LEAD_CREATED = "crm.leads.lead.created"
CONTACT_CREATED = "crm.deals.contact.created"


def lead_record(event: leads_events.LeadCreated) -> IndexedRecord:
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
