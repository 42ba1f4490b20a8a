"""Celery app and beat schedule of the deals service (process "worker" / "beat")."""

from celery.schedules import crontab
from crm_platform.celery import make_celery

from crm_deals.settings import DealsSettings

settings = DealsSettings()
celery = make_celery(
    "deals",
    settings.redis_url,
    include=["crm_deals.organizations.tasks", "crm_deals.opportunities.tasks", "crm_deals.reports.tasks"],
)
celery.conf.beat_schedule = {
    "link-contacts-by-domain": {"task": "deals.link_contacts_by_domain", "schedule": 600.0},
    "alert-stalled-opportunities": {"task": "deals.alert_stalled_opportunities", "schedule": 900.0},
    # shortly after midnight UTC, and again at noon so a missed night still leaves a snapshot for the day
    "snapshot-forecast": {"task": "deals.snapshot_forecast", "schedule": crontab(minute=5, hour="0,12")},
}
