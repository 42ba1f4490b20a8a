"""Rules run no tasks of their own: delayed messages wait in the message table (crm_notify.messages.tasks)."""
