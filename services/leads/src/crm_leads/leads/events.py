"""Subjects and builders for the events the leads service publishes."""

from __future__ import annotations

from crm.common.v1 import contact_point_pb2
from crm.leads.v1 import events_pb2, leads_pb2

from crm_leads.leads.models import Lead

LEAD_CREATED = "crm.leads.lead.created"
LEAD_ASSIGNED = "crm.leads.lead.assigned"
LEAD_STATUS_CHANGED = "crm.leads.lead.status_changed"

PHONE_KINDS = {
    "work": contact_point_pb2.PHONE_KIND_WORK,
    "mobile": contact_point_pb2.PHONE_KIND_MOBILE,
    "home": contact_point_pb2.PHONE_KIND_HOME,
    "fax": contact_point_pb2.PHONE_KIND_FAX,
}
PHONE_KIND_NAMES = {v: k for k, v in PHONE_KINDS.items()}
STATUSES = {
    "new": leads_pb2.LEAD_STATUS_NEW,
    "waiting_for_contact": leads_pb2.LEAD_STATUS_WAITING_FOR_CONTACT,
    "in_progress": leads_pb2.LEAD_STATUS_IN_PROGRESS,
    "serious_prospect": leads_pb2.LEAD_STATUS_SERIOUS_PROSPECT,
    "forgotten": leads_pb2.LEAD_STATUS_FORGOTTEN,
    "junk": leads_pb2.LEAD_STATUS_JUNK,
    "converted": leads_pb2.LEAD_STATUS_CONVERTED,
}


def lead_to_proto(lead: Lead) -> leads_pb2.Lead:
    msg = leads_pb2.Lead(
        id=str(lead.id),
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=lead.company,
        title=lead.title,
        emails=list(lead.emails),
        phones=[
            contact_point_pb2.Phone(
                e164=p["e164"],
                kind=PHONE_KINDS.get(p.get("kind", "work"), contact_point_pb2.PHONE_KIND_UNSPECIFIED),
            )
            for p in lead.phones
        ],
        source=lead.source,
        status=STATUSES.get(lead.status, leads_pb2.LEAD_STATUS_UNSPECIFIED),
        owner_id=lead.owner_id or "",
        team=lead.team,
        description=lead.description,
        score=lead.score or 0,
    )
    if lead.created_at is not None:
        msg.created_at.FromDatetime(lead.created_at)
    return msg


def lead_created(lead: Lead) -> events_pb2.LeadCreated:
    return events_pb2.LeadCreated(lead=lead_to_proto(lead))
