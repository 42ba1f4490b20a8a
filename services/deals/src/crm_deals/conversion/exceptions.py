from crm_platform.errors import Conflict


class LeadAlreadyConverted(Conflict):
    """deals already holds a conversion of this lead under another conversion id."""

    type_slug = "lead-already-converted"
    title = "Lead already converted"
