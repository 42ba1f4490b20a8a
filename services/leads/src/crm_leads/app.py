"""Process "app" of the leads service: FastAPI + grpc.aio + consumers + outbox relay."""

from __future__ import annotations

from pathlib import Path

from crm_platform.runtime import ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from fastapi import FastAPI

from crm_leads.activities.router import router as activities_router
from crm_leads.assignment.router import router as assignment_router
from crm_leads.conversion import grpc as conversion_grpc
from crm_leads.conversion.router import router as conversion_router
from crm_leads.db import tables
from crm_leads.intake.router import router as intake_router
from crm_leads.leads import grpc as leads_grpc
from crm_leads.leads import handlers as leads_handlers
from crm_leads.leads.router import router as leads_router
from crm_leads.settings import LeadsSettings

definition = ServiceDefinition(
    name="leads",
    title="CRM leads service",
    settings_cls=LeadsSettings,
    tables=tables,
    service_root=Path(__file__).resolve().parents[2],
    routers=[leads_router, assignment_router, activities_router, intake_router, conversion_router],
    grpc=[leads_grpc.registration, conversion_grpc.registration],
    subscriptions=leads_handlers.subscriptions,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return build_app(definition, settings)
