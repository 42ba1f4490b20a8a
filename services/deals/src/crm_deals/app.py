"""Process "app" of the deals service: FastAPI + grpc.aio + consumers + outbox relay."""

from __future__ import annotations

from pathlib import Path

from crm_platform.runtime import ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from fastapi import FastAPI

from crm_deals import grpc as deals_grpc
from crm_deals.db import tables
from crm_deals.lifecycle import handlers as lifecycle_handlers
from crm_deals.lifecycle.router import router as lifecycle_router
from crm_deals.opportunities.router import router as opportunities_router
from crm_deals.organizations.router import router as organizations_router
from crm_deals.pipelines.router import router as pipelines_router
from crm_deals.reports.router import router as reports_router
from crm_deals.settings import DealsSettings

definition = ServiceDefinition(
    name="deals",
    title="CRM deals service",
    settings_cls=DealsSettings,
    tables=tables,
    service_root=Path(__file__).resolve().parents[2],
    routers=[organizations_router, pipelines_router, opportunities_router, reports_router, lifecycle_router],
    grpc=[deals_grpc.registration],
    subscriptions=lifecycle_handlers.subscriptions,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return build_app(definition, settings)
