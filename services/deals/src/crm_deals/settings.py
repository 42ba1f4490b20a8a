from crm_platform.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class DealsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEALS_", extra="ignore")

    service_name: str = "deals"
    http_port: int = 8082
    grpc_port: int = 50052
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_deals"
    default_phone_region: str = "IR"
    default_currency: str = "EUR"
