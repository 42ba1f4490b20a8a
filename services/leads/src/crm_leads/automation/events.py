"""The automation domain publishes crm.leads.lead.status_changed (subject in crm_leads.leads.events)."""

from crm_leads.leads.events import LEAD_STATUS_CHANGED

__all__ = ["LEAD_STATUS_CHANGED"]
