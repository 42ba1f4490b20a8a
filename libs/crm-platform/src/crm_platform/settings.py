"""Settings base: one pydantic-settings class per service, env_prefix "<SVC>_"."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789"
DEV_SERVICE_TOKEN = "dev-only-service-token"


class ServiceSettings(BaseSettings):
    """Common settings every service has. Subclasses set ``model_config`` with their own env_prefix."""

    model_config = SettingsConfigDict(env_prefix="CRM_", extra="ignore")

    service_name: str = "crm"
    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm"
    database_pool_size: int = 5
    database_pool_pre_ping: bool = False  # ping each connection at checkout (one more round trip)
    nats_url: str = "nats://127.0.0.1:4222"
    redis_url: str = "redis://127.0.0.1:6379/0"
    http_host: str = "0.0.0.0"
    http_port: int = 8080
    grpc_port: int = 50051
    grpc_host: str = "0.0.0.0"
    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str = ""
    jwt_audience: str = ""
    service_token: str = DEV_SERVICE_TOKEN
    log_level: str = "INFO"
    # one JSON log line per HTTP request; off by default: the RED metrics, the server spans and the
    # gateway's own access log cover requests, and the line cost ~2% of a lead create's CPU
    access_log: bool = False
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    relay_batch_size: int = Field(500, ge=1, le=4000)  # <= nats-py's pending async publishes
    relay_idle_seconds: float = 0.05
    # published outbox rows older than this are deleted by the relay (0 keeps them forever)
    outbox_retention_hours: float = Field(168.0, ge=0)
    consumer_max_deliver: int = 10

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> ServiceSettings:
        if self.env == "prod":
            if not self.jwt_jwks_url and self.jwt_secret == DEV_JWT_SECRET:
                raise ValueError("production needs JWT_JWKS_URL or a non-default JWT_SECRET")
            if self.service_token == DEV_SERVICE_TOKEN:
                raise ValueError("production needs a non-default SERVICE_TOKEN")
        return self

    @property
    def stream_name(self) -> str:
        return f"CRM_{self.service_name.upper()}"
