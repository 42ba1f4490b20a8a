from crm_platform.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class TelephonySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TELEPHONY_", extra="ignore")

    service_name: str = "telephony"
    http_port: int = 8085
    grpc_port: int = 50055
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_telephony"
    default_phone_region: str = "IR"
