"""Statuses live on crm_leads.leads.models.Lead (status, status_changed_at) and its audit trail."""
