"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_deals.db import Base, tables
from crm_deals.organizations.models import Contact, Organization

__all__ = ["Base", "Contact", "Organization", "tables"]
