from crm_platform.errors import Conflict, NotFound


class TemplateNotFound(NotFound):
    type_slug = "template-not-found"
    title = "Template not found"


class TemplateExists(Conflict):
    type_slug = "template-exists"
    title = "Template exists"
