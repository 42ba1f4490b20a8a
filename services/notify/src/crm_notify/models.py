"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_notify.db import Base, tables
from crm_notify.notify.models import ObservedEvent

__all__ = ["Base", "ObservedEvent", "tables"]
