"""Subjects notify consumes, and how each consumed event is summarised for the observed-event log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm.leads.v1 import events_pb2 as leads_events

LEAD_CREATED = "crm.leads.lead.created"


def occurred_at(event: leads_events.LeadCreated) -> dt.datetime | None:
    if not event.HasField("metadata") or not event.metadata.HasField("occurred_at"):
        return None
    return event.metadata.occurred_at.ToDatetime(tzinfo=dt.UTC)


def lead_created_summary(event: leads_events.LeadCreated) -> dict[str, Any]:
    lead = event.lead
    return {
        "lead_id": lead.id,
        "name": " ".join(p for p in (lead.first_name, lead.last_name) if p),
        "company": lead.company,
        "owner_id": lead.owner_id or None,
        "team": lead.team,
        "source": lead.source,
        "phones": len(lead.phones),
        "emails": len(lead.emails),
    }
