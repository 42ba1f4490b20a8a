from crm_billing.models import Base
from crm_platform.migrations import run_env

run_env(Base.metadata)
