"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_deals.conversion.models import LeadConversion
from crm_deals.db import Base, tables
from crm_deals.lifecycle.models import CustomerPayment
from crm_deals.opportunities.models import DealActivity, Opportunity, Snooze, StageHistory
from crm_deals.organizations.models import Contact, Organization
from crm_deals.pipelines.models import Pipeline, Stage
from crm_deals.reports.models import ForecastSnapshot

__all__ = [
    "Base",
    "Contact",
    "CustomerPayment",
    "DealActivity",
    "ForecastSnapshot",
    "LeadConversion",
    "Opportunity",
    "Organization",
    "Pipeline",
    "Snooze",
    "Stage",
    "StageHistory",
    "tables",
]
