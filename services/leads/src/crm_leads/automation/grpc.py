"""Statuses are changed over gRPC by LeadsService.ChangeLeadStatus (crm_leads.leads.grpc)."""
