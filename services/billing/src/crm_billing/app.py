"""Process "app" of the billing service: FastAPI + grpc.aio + consumers + outbox relay."""

from __future__ import annotations

from pathlib import Path

from crm_platform.runtime import ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from fastapi import FastAPI

from crm_billing.db import tables
from crm_billing.invoices import grpc as invoices_grpc
from crm_billing.invoices import handlers as invoices_handlers
from crm_billing.invoices.router import router as invoices_router
from crm_billing.settings import BillingSettings

definition = ServiceDefinition(
    name="billing",
    title="CRM billing service",
    settings_cls=BillingSettings,
    tables=tables,
    service_root=Path(__file__).resolve().parents[2],
    routers=[invoices_router],
    grpc=[invoices_grpc.registration],
    subscriptions=invoices_handlers.subscriptions,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return build_app(definition, settings)
