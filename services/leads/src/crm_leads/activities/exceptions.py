"""Errors of the activities domain (mapped to problem+json by the platform)."""

from crm_platform.errors import Conflict, NotFound


class ActivityNotFound(NotFound):
    type_slug = "activity-not-found"
    title = "Activity not found"


class LeadClosedForActivity(Conflict):
    """The lead is junk, converted or merged: it takes no further activity."""

    type_slug = "lead-closed"
    title = "Lead takes no further activity"


class ActivityNotCompletable(Conflict):
    type_slug = "activity-not-completable"
    title = "Activity cannot be completed"
