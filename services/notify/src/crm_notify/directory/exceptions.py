from crm_platform.errors import NotFound


class UserContactNotFound(NotFound):
    type_slug = "user-contact-not-found"
    title = "User contact not found"


class LeadContactNotFound(NotFound):
    type_slug = "lead-contact-not-found"
    title = "Lead contact not found"


class LeadNotProjectedYet(Exception):
    """A rule needs a lead notify has not seen yet (its lead.created is still on its way): retry later."""
