"""Celery app and beat schedule of the notify service (process "worker" / "beat")."""

from crm_platform.celery import make_celery

from crm_notify.settings import NotifySettings

settings = NotifySettings()
celery = make_celery(
    "notify",
    settings.redis_url,
    include=["crm_notify.notify.tasks", "crm_notify.messages.tasks"],
)
celery.conf.beat_schedule = {
    "purge-observed-events": {"task": "notify.purge_observed_events", "schedule": 24 * 3600.0},
    "dispatch-due-messages": {"task": "notify.dispatch_due", "schedule": 15.0},
    "poll-fax-receipts": {"task": "notify.poll_receipts", "schedule": 60.0},
}
