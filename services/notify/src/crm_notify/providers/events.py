"""Providers publish no events of their own (see crm_notify.messages.events)."""
