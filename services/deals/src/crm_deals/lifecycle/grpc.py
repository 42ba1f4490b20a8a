"""The customer lifecycle has no gRPC methods (buyer_status travels on Organization and Contact)."""
