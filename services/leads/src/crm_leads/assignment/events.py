"""The assignment domain publishes crm.leads.lead.assigned (subject and builder in crm_leads.leads.events)."""

from crm_leads.leads.events import LEAD_ASSIGNED

__all__ = ["LEAD_ASSIGNED"]
