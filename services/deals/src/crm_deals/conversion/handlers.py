"""Lead conversion consumes no events (it is a gRPC command, not a reaction to a fact)."""
