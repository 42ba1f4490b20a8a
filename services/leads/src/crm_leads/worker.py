"""Celery app and beat schedule of the leads service (process "worker" / "beat")."""

from crm_platform.celery import make_celery

from crm_leads.settings import LeadsSettings

settings = LeadsSettings()
celery = make_celery(
    "leads",
    settings.redis_url,
    include=[
        "crm_leads.leads.tasks",
        "crm_leads.assignment.tasks",
        "crm_leads.automation.tasks",
        "crm_leads.activities.tasks",
        "crm_leads.intake.tasks",
        "crm_leads.conversion.tasks",
    ],
)
celery.conf.beat_schedule = {
    "score-pending-leads": {"task": "leads.score_pending_leads", "schedule": 60.0},
    "assign-waiting-leads": {"task": "leads.assign_waiting_leads", "schedule": 60.0},
    "mark-forgotten-leads": {"task": "leads.mark_forgotten_leads", "schedule": 3600.0},
    "send-due-reminders": {"task": "leads.send_due_reminders", "schedule": 60.0},
    "sweep-stuck-imports": {"task": "leads.sweep_imports", "schedule": 60.0},
    "resume-conversions": {"task": "leads.resume_conversions", "schedule": 60.0},
}
