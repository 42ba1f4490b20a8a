"""Prometheus metrics of the activities domain (observed only after the transaction commits)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# 1 minute .. 7 days: how long a new lead waits for its owner's first call, e-mail or note.
SPEED_TO_LEAD_BUCKETS = (
    MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    2 * HOUR,
    4 * HOUR,
    8 * HOUR,
    DAY,
    2 * DAY,
    3 * DAY,
    7 * DAY,
)

SPEED_TO_LEAD = Histogram(
    "crm_leads_speed_to_lead_seconds",
    "Time from lead intake to the owner's first logged call, e-mail or note",
    ["channel"],
    buckets=SPEED_TO_LEAD_BUCKETS,
)
ACTIVITIES_CREATED = Counter("crm_leads_activities_created_total", "Activities created on leads", ["kind"])
REMINDERS_DUE = Counter(
    "crm_leads_activity_reminders_total", "Due activity reminders processed by outcome", ["outcome"]
)
