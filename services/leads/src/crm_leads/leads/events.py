"""Subjects and builders for the events the leads service publishes."""

from __future__ import annotations

import json

from crm.leads.v1 import events_pb2, leads_pb2
from crm_platform.contact_points import phones_to_proto

from crm_leads.leads.models import Lead

LEAD_CREATED = "crm.leads.lead.created"
LEAD_ASSIGNED = "crm.leads.lead.assigned"
LEAD_STATUS_CHANGED = "crm.leads.lead.status_changed"
LEAD_UPDATED = "crm.leads.lead.updated"
LEAD_MERGED = "crm.leads.lead.merged"
ACTIVITY_REMINDER_DUE = "crm.leads.activity.reminder_due"

STATUSES = {
    "new": leads_pb2.LEAD_STATUS_NEW,
    "waiting_for_contact": leads_pb2.LEAD_STATUS_WAITING_FOR_CONTACT,
    "in_progress": leads_pb2.LEAD_STATUS_IN_PROGRESS,
    "serious_prospect": leads_pb2.LEAD_STATUS_SERIOUS_PROSPECT,
    "forgotten": leads_pb2.LEAD_STATUS_FORGOTTEN,
    "junk": leads_pb2.LEAD_STATUS_JUNK,
    "converted": leads_pb2.LEAD_STATUS_CONVERTED,
    "contact_in_future": leads_pb2.LEAD_STATUS_CONTACT_IN_FUTURE,
    "qualified": leads_pb2.LEAD_STATUS_QUALIFIED,
    "lost": leads_pb2.LEAD_STATUS_LOST,
    "merged": leads_pb2.LEAD_STATUS_MERGED,
}
STATUS_NAMES = {v: k for k, v in STATUSES.items()}


def lead_to_proto(lead: Lead) -> leads_pb2.Lead:
    msg = leads_pb2.Lead(
        id=str(lead.id),
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=lead.company,
        title=lead.title,
        emails=list(lead.emails),
        phones=phones_to_proto(lead.phones),
        source=lead.source,
        status=STATUSES.get(lead.status, leads_pb2.LEAD_STATUS_UNSPECIFIED),
        owner_id=lead.owner_id or "",
        team=lead.team,
        description=lead.description,
        score=lead.score or 0,
        campaign=lead.campaign,
        country=lead.country,
        industry=lead.industry,
        rating=lead.rating,
        intake_channel=lead.intake_channel,
        do_not_email=lead.do_not_email,
        do_not_call=lead.do_not_call,
        do_not_fax=lead.do_not_fax,
        annual_revenue="" if lead.annual_revenue is None else str(lead.annual_revenue),
        employee_count=lead.employee_count or 0,
        website=lead.website,
        national_id=lead.national_id,
        messenger_id=lead.messenger_id,
        custom_fields_json=json.dumps(lead.custom_fields or {}, ensure_ascii=False),
        merged_into_id=str(lead.merged_into_id or ""),
    )
    if lead.assigned_at is not None:
        msg.assigned_at.FromDatetime(lead.assigned_at)
    if lead.first_touch_at is not None:
        msg.first_touch_at.FromDatetime(lead.first_touch_at)
    if lead.created_at is not None:
        msg.created_at.FromDatetime(lead.created_at)
    return msg


def lead_created(lead: Lead) -> events_pb2.LeadCreated:
    return events_pb2.LeadCreated(lead=lead_to_proto(lead))
