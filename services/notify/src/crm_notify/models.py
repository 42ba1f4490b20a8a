"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_notify.consent.models import Consent, ContactPoint
from crm_notify.db import Base, tables
from crm_notify.directory.models import LeadContact, UserContact
from crm_notify.messages.models import DeliveryAttempt, DeliveryReceipt, Message, MessageStatusChange
from crm_notify.notify.models import ObservedEvent
from crm_notify.providers.models import Provider
from crm_notify.rules.models import Rule
from crm_notify.templates.models import Template

__all__ = [
    "Base",
    "Consent",
    "ContactPoint",
    "DeliveryAttempt",
    "DeliveryReceipt",
    "LeadContact",
    "Message",
    "MessageStatusChange",
    "ObservedEvent",
    "Provider",
    "Rule",
    "Template",
    "UserContact",
    "tables",
]
