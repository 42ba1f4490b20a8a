from crm_platform.migrations import run_env
from crm_telephony.models import Base

run_env(Base.metadata)
