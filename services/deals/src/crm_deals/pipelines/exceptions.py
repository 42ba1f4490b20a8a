from crm_platform.errors import NotFound


class PipelineNotFound(NotFound):
    type_slug = "pipeline-not-found"
    title = "Pipeline not found"


class StageNotFound(NotFound):
    type_slug = "stage-not-found"
    title = "Stage not found"
