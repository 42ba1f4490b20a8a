"""Celery app and beat schedule of the billing service (process "worker" / "beat")."""

from crm_platform.celery import make_celery

from crm_billing.settings import BillingSettings

settings = BillingSettings()
celery = make_celery("billing", settings.redis_url, include=["crm_billing.invoices.tasks"])
celery.conf.beat_schedule = {
    "expire-draft-invoices": {"task": "billing.expire_draft_invoices", "schedule": 3600.0},
}
