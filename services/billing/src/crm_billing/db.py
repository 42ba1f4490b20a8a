"""The billing service's declarative Base and platform tables (outbox, inbox, dead letters)."""

from crm_platform.db import make_base
from crm_platform.tables import platform_tables

Base = make_base()
tables = platform_tables(Base.metadata)
