from crm_platform.errors import Conflict, NotFound


class OpportunityNotFound(NotFound):
    type_slug = "opportunity-not-found"
    title = "Opportunity not found"


class ActivityNotFound(NotFound):
    type_slug = "activity-not-found"
    title = "Activity not found"


class OpportunityClosed(Conflict):
    type_slug = "opportunity-closed"
    title = "Opportunity is closed"


class ActivityNotCompletable(Conflict):
    type_slug = "activity-not-completable"
    title = "Activity cannot be completed"
