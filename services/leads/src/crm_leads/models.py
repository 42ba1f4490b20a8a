"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_leads.db import Base, tables
from crm_leads.leads.models import Lead

__all__ = ["Base", "Lead", "tables"]
