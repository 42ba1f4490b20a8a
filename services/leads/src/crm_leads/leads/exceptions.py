from crm_platform.errors import NotFound


class LeadNotFound(NotFound):
    type_slug = "lead-not-found"
    title = "Lead not found"
