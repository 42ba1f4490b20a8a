"""Celery app and beat schedule of the leads service (process "worker" / "beat")."""

from crm_platform.celery import make_celery

from crm_leads.settings import LeadsSettings

settings = LeadsSettings()
celery = make_celery("leads", settings.redis_url, include=["crm_leads.leads.tasks"])
celery.conf.beat_schedule = {
    "score-pending-leads": {"task": "leads.score_pending_leads", "schedule": 60.0},
}
