"""Celery app and beat schedule of the deals service (process "worker" / "beat")."""

from crm_platform.celery import make_celery

from crm_deals.settings import DealsSettings

settings = DealsSettings()
celery = make_celery("deals", settings.redis_url, include=["crm_deals.organizations.tasks"])
celery.conf.beat_schedule = {
    "link-contacts-by-domain": {"task": "deals.link_contacts_by_domain", "schedule": 600.0},
}
