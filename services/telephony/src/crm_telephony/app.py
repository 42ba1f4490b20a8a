"""Process "app" of the telephony service: FastAPI + grpc.aio + consumers + outbox relay."""

from __future__ import annotations

from pathlib import Path

from crm_platform.runtime import ServiceDefinition, build_app
from crm_platform.settings import ServiceSettings
from fastapi import FastAPI

from crm_telephony.db import tables
from crm_telephony.phonebook import grpc as phonebook_grpc
from crm_telephony.phonebook import handlers as phonebook_handlers
from crm_telephony.phonebook.router import router as phonebook_router
from crm_telephony.settings import TelephonySettings

definition = ServiceDefinition(
    name="telephony",
    title="CRM telephony service",
    settings_cls=TelephonySettings,
    tables=tables,
    service_root=Path(__file__).resolve().parents[2],
    routers=[phonebook_router],
    grpc=[phonebook_grpc.registration],
    subscriptions=phonebook_handlers.subscriptions,
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    return build_app(definition, settings)
