from crm_platform.errors import NotFound


class SnapshotNotFound(NotFound):
    type_slug = "forecast-snapshot-not-found"
    title = "No forecast snapshot for that day"
