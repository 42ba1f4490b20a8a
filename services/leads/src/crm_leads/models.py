"""Every model of the service, imported so Alembic sees the whole metadata."""

from crm_leads.activities.models import Activity
from crm_leads.assignment.models import AssignmentDecision, AssignmentRule, PoolState, Rep
from crm_leads.conversion.models import LeadConversion, MovedActivity
from crm_leads.db import Base, tables
from crm_leads.intake.models import ImportJob, IntakeSubmission, LeadSource
from crm_leads.leads.models import CustomFieldDef, Lead, LeadAudit, LeadDuplicate

__all__ = [
    "Activity",
    "AssignmentDecision",
    "AssignmentRule",
    "Base",
    "CustomFieldDef",
    "ImportJob",
    "IntakeSubmission",
    "Lead",
    "LeadAudit",
    "LeadConversion",
    "LeadDuplicate",
    "LeadSource",
    "MovedActivity",
    "PoolState",
    "Rep",
    "tables",
]
