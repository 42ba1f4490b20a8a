from crm_platform.errors import NotFound


class OrganizationNotFound(NotFound):
    type_slug = "organization-not-found"
    title = "Organization not found"


class ContactNotFound(NotFound):
    type_slug = "contact-not-found"
    title = "Contact not found"
