from crm_platform.errors import Conflict, NotFound


class ProviderNotFound(NotFound):
    type_slug = "provider-not-found"
    title = "Provider not found"


class ProviderNameTaken(Conflict):
    type_slug = "provider-name-taken"
    title = "Provider name taken"
