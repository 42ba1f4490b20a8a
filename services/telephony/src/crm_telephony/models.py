"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_telephony.db import Base, tables
from crm_telephony.phonebook.models import IndexSource, PhoneIndexEntry

__all__ = ["Base", "IndexSource", "PhoneIndexEntry", "tables"]
