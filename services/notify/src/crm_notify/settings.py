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
    # Where recipients reach our public endpoints (unsubscribe and opt-in confirmation links).
    public_base_url: str = "http://127.0.0.1:8084"
    # HMAC key for unsubscribe / opt-in tokens; refused in prod while it has the dev value.
    link_secret: str = "dev-only-notify-link-secret"
    default_phone_region: str = "IR"
    default_locale: str = "en"
    # Delivery: attempt n (1-based) that failed transiently waits retry_base_seconds * 2**(n-1)
    # (capped at retry_max_seconds, +-20% jitter); after max_attempts the message is dead-lettered.
    max_attempts: int = Field(6, ge=1, le=50)
    retry_base_seconds: float = Field(30.0, gt=0)
    retry_max_seconds: float = Field(3600.0, gt=0)
    # A message stuck in "sending" this long (worker died mid-send) is queued again by the sweep.
    sending_lease_seconds: float = Field(300.0, gt=0)
    # Delays up to this are scheduled with a Celery countdown; longer ones wait for the beat sweep.
    countdown_limit_seconds: float = Field(300.0, gt=0)
    # Dispatcher: messages claimed per round (one claim and one record transaction each), provider calls
    # in flight per worker process, and how long one dispatcher task keeps taking rounds.
    dispatch_batch_size: int = Field(64, ge=1, le=1000)
    dispatch_concurrency: int = Field(16, ge=1, le=256)
    dispatch_max_seconds: float = Field(20.0, gt=0)
    # SendNotification: concurrent calls are written in one transaction, at most this many per batch.
    send_batch_size: int = Field(64, ge=1, le=1000)
    attachment_max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    http_timeout_seconds: float = Field(10.0, gt=0)
    # The app process binds every enabled SMPP provider as a receiver to collect delivery receipts.
    smpp_receipts: bool = True
