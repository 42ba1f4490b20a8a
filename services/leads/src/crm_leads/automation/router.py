"""Statuses are changed over REST by POST /api/v1/leads/{id}/status (crm_leads.leads.router)."""
