from crm_platform.errors import DomainError, NotFound


class InvalidLinkToken(DomainError):
    http_status = 404
    type_slug = "invalid-link"
    title = "Link is invalid or expired"


class ContactPointNotFound(NotFound):
    type_slug = "contact-point-not-found"
    title = "Contact point not found"
