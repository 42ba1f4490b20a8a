"""Process "app" of the deals service: FastAPI + grpc.aio + consumers + outbox relay."""

from __future__ import annotations

from pathlib import Path

from crm_platform.runtime import ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from fastapi import FastAPI

from crm_deals.db import tables
from crm_deals.organizations import grpc as organizations_grpc
from crm_deals.organizations import handlers as organizations_handlers
from crm_deals.organizations.router import router as organizations_router
from crm_deals.settings import DealsSettings

definition = ServiceDefinition(
    name="deals",
    title="CRM deals service",
    settings_cls=DealsSettings,
    tables=tables,
    service_root=Path(__file__).resolve().parents[2],
    routers=[organizations_router],
    grpc=[organizations_grpc.registration],
    subscriptions=organizations_handlers.subscriptions,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return build_app(definition, settings)
