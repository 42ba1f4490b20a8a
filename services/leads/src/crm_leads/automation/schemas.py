"""Status change input is crm_leads.leads.schemas.StatusChange."""
