"""Pipelines have no gRPC methods yet (ConvertLead resolves pipelines inside deals)."""
