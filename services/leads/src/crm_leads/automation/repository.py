"""Status automation reads and writes leads through crm_leads.leads.repository.LeadRepository."""
