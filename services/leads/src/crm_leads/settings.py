from crm_platform.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class LeadsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore")

    service_name: str = "leads"
    http_port: int = 8081
    grpc_port: int = 50051
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/crm_leads"
    default_phone_region: str = "IR"
    serious_prospect_closed_tasks: int = 2
    forgotten_after_days: int = 30
    first_followup_minutes: int = 60
    # lead conversion calls deals (crm.deals.v1.DealsService/ConvertLead) here, with this deadline
    deals_grpc_target: str = "127.0.0.1:50052"
    deals_grpc_timeout: float = 10.0
