"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_billing.db import Base, tables
from crm_billing.invoices.models import Invoice

__all__ = ["Base", "Invoice", "tables"]
