"""Pipelines have no Celery tasks (the stalled-opportunity job lives in the opportunities domain)."""
