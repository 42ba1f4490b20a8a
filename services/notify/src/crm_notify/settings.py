from crm_platform.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class NotifySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    service_name: str = "notify"
    http_port: int = 8084
    grpc_port: int = 50054
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_notify"
    observed_event_retention_days: int = Field(30, ge=1)
