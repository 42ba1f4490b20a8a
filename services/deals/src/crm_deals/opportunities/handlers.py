"""Opportunities consume no events (lifecycle events from billing are handled by crm_deals.lifecycle)."""
