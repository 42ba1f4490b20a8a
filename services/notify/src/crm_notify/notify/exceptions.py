from crm_platform.errors import NotFound


class ObservedEventNotFound(NotFound):
    type_slug = "observed-event-not-found"
    title = "Observed event not found"
