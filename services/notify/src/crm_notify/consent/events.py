"""Consent publishes no events (suppressions are message events: crm_notify.messages.events)."""
