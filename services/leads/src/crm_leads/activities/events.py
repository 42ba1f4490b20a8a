"""Subjects and builders for the events the activities domain publishes."""

from __future__ import annotations

from crm.leads.v1 import events_pb2

from crm_leads.activities.models import Activity

ACTIVITY_REMINDER_DUE = "crm.leads.activity.reminder_due"


def reminder_due(activity: Activity) -> events_pb2.ActivityReminderDue:
    msg = events_pb2.ActivityReminderDue(
        activity_id=str(activity.id),
        lead_id=str(activity.lead_id),
        owner_id=activity.owner_id or "",
        kind=activity.kind,
        subject=activity.subject,
    )
    if activity.due_at is not None:
        msg.due_at.FromDatetime(activity.due_at)
    return msg
