"""The leads service's declarative Base and platform tables (outbox, inbox, dead letters)."""

from crm_platform.db import new_metadata
from crm_platform.tables import platform_tables
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    metadata = new_metadata()


tables = platform_tables(Base.metadata)
