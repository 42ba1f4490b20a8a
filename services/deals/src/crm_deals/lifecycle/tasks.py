"""The customer lifecycle has no Celery tasks (it reacts to billing's events)."""
