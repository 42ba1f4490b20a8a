from crm_platform.errors import NotFound


class RuleNotFound(NotFound):
    type_slug = "rule-not-found"
    title = "Rule not found"
