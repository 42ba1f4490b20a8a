from crm_platform.errors import NotFound


class RepNotFound(NotFound):
    type_slug = "rep-not-found"
    title = "Rep not found"


class RuleNotFound(NotFound):
    type_slug = "assignment-rule-not-found"
    title = "Assignment rule not found"
