"""Process "app" of the notify service: FastAPI + grpc.aio + consumers + outbox relay."""

from __future__ import annotations

from pathlib import Path

from crm_platform.runtime import ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from fastapi import FastAPI

from crm_notify.db import tables
from crm_notify.notify import grpc as notify_grpc
from crm_notify.notify import handlers as notify_handlers
from crm_notify.notify.router import router as notify_router
from crm_notify.settings import NotifySettings

definition = ServiceDefinition(
    name="notify",
    title="CRM notify service",
    settings_cls=NotifySettings,
    tables=tables,
    service_root=Path(__file__).resolve().parents[2],
    routers=[notify_router],
    grpc=[notify_grpc.registration],
    subscriptions=notify_handlers.subscriptions,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return build_app(definition, settings)
