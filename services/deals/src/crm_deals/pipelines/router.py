"""REST edge for pipelines and stages (thin)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, status

from crm_deals.pipelines.schemas import PipelineCreate, PipelineOut, PipelineUpdate, StageOut, StageUpdate
from crm_deals.pipelines.service import PipelineService

router = APIRouter(prefix="/api/v1", tags=["pipelines"])


@router.get("/pipelines", response_model=list[PipelineOut])
async def list_pipelines(session: DbSession, user: CurrentUser) -> list[PipelineOut]:
    return [PipelineOut.model_validate(p) for p in await PipelineService(session).list()]


@router.post("/pipelines", status_code=status.HTTP_201_CREATED, response_model=PipelineOut)
async def create_pipeline(body: PipelineCreate, session: DbSession, user: CurrentUser) -> PipelineOut:
    return PipelineOut.model_validate(await PipelineService(session).create(body, user))


@router.get("/pipelines/{pipeline_id}", response_model=PipelineOut)
async def get_pipeline(pipeline_id: uuid.UUID, session: DbSession, user: CurrentUser) -> PipelineOut:
    return PipelineOut.model_validate(await PipelineService(session).get(pipeline_id))


@router.patch("/pipelines/{pipeline_id}", response_model=PipelineOut)
async def update_pipeline(
    pipeline_id: uuid.UUID, body: PipelineUpdate, session: DbSession, user: CurrentUser
) -> PipelineOut:
    return PipelineOut.model_validate(await PipelineService(session).update(pipeline_id, body, user))


@router.patch("/pipelines/{pipeline_id}/stages/{stage_id}", response_model=StageOut)
async def update_stage(
    pipeline_id: uuid.UUID, stage_id: uuid.UUID, body: StageUpdate, session: DbSession, user: CurrentUser
) -> StageOut:
    stage = await PipelineService(session).update_stage(pipeline_id, stage_id, body, user)
    return StageOut.model_validate(stage)
