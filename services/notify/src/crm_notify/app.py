"""Process "app" of the notify service: FastAPI + grpc.aio + consumers + outbox relay, and the SMPP
delivery-receipt listeners (a router lifespan, merged into the app's by FastAPI)."""

from __future__ import annotations

from pathlib import Path

from crm_platform.runtime import ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from fastapi import APIRouter, FastAPI

from crm_notify.consent.router import router as consent_router
from crm_notify.db import tables
from crm_notify.directory import handlers as directory_handlers
from crm_notify.directory.router import router as directory_router
from crm_notify.messages import grpc as messages_grpc
from crm_notify.messages import handlers as messages_handlers
from crm_notify.messages.router import router as messages_router
from crm_notify.notify import handlers as notify_handlers
from crm_notify.notify.router import router as notify_router
from crm_notify.providers.router import router as providers_router
from crm_notify.rules import handlers as rules_handlers
from crm_notify.rules.router import router as rules_router
from crm_notify.settings import NotifySettings
from crm_notify.templates.router import router as templates_router

receipts_router = APIRouter(lifespan=messages_handlers.lifespan)

definition = ServiceDefinition(
    name="notify",
    title="CRM notify service",
    settings_cls=NotifySettings,
    tables=tables,
    service_root=Path(__file__).resolve().parents[2],
    routers=[
        notify_router,
        messages_router,
        templates_router,
        consent_router,
        directory_router,
        rules_router,
        providers_router,
        receipts_router,
    ],
    grpc=[messages_grpc.registration],
    subscriptions=[
        *notify_handlers.subscriptions,
        *directory_handlers.subscriptions,
        *rules_handlers.subscriptions,
    ],
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return build_app(definition, settings)
