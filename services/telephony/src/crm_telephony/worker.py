"""Celery app and beat schedule of the telephony service (process "worker" / "beat")."""

from crm_platform.celery import make_celery

from crm_telephony.settings import TelephonySettings

settings = TelephonySettings()
celery = make_celery("telephony", settings.redis_url, include=["crm_telephony.phonebook.tasks"])
celery.conf.beat_schedule = {
    "normalise-phone-index": {"task": "telephony.normalise_index", "schedule": 24 * 3600.0},
}
