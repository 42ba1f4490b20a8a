"""Provider work runs inside the message delivery tasks (crm_notify.messages.tasks)."""
