"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_telephony.db import Base, tables
from crm_telephony.phonebook.models import PhoneIndexEntry

__all__ = ["Base", "PhoneIndexEntry", "tables"]
