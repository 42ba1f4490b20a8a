"""Consent consumes no events yet (lead do-not-contact flags are read from the lead projection)."""
