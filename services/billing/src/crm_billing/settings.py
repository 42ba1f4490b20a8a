from crm_platform.settings import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class BillingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BILLING_", extra="ignore")

    service_name: str = "billing"
    http_port: int = 8083
    grpc_port: int = 50053
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_billing"
    draft_invoice_ttl_days: int = Field(30, ge=1)
