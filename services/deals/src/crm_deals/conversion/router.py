"""Lead conversion has no REST routes in deals: it starts from leads, which calls ConvertLead over gRPC."""
