"""Lead events that feed the contact projection, and how a Lead message becomes a projection row."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from crm.leads.v1 import leads_pb2
from crm_platform.contact_points import phones_from_proto
from crm_platform.db import utcnow

LEAD_CREATED = "crm.leads.lead.created"
LEAD_UPDATED = "crm.leads.lead.updated"
LEAD_MERGED = "crm.leads.lead.merged"


def lead_status_name(value: int) -> str:
    return (
        leads_pb2.LeadStatus.Name(leads_pb2.LeadStatus.ValueType(value)).removeprefix("LEAD_STATUS_").lower()
        if value
        else ""
    )


def occurred(event: Any) -> dt.datetime:
    if event.HasField("metadata") and event.metadata.HasField("occurred_at"):
        return event.metadata.occurred_at.ToDatetime(tzinfo=dt.UTC)  # type: ignore[no-any-return]
    return utcnow()


def lead_values(lead: leads_pb2.Lead) -> dict[str, Any]:
    return {
        "lead_id": uuid.UUID(lead.id),
        "name": " ".join(p for p in (lead.first_name, lead.last_name) if p),
        "company": lead.company,
        "emails": list(lead.emails),
        "phones": phones_from_proto(lead.phones),
        "owner_id": lead.owner_id or None,
        "country": lead.country[:2].upper(),
        "status": lead_status_name(lead.status),
        "do_not_email": lead.do_not_email,
        "do_not_call": lead.do_not_call,
        "do_not_fax": lead.do_not_fax,
        "merged_into_id": uuid.UUID(lead.merged_into_id) if lead.merged_into_id else None,
    }
