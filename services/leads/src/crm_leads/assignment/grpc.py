"""The assignment domain's gRPC surface is LeadsService.AssignLead, served by crm_leads.leads.grpc."""
