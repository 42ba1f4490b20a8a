"""Pipelines and their ordered stages: default probability, forecast category and stage limit per stage;
closed-won is always 100 % / closed, closed-lost 0 % / omitted. Flushes, never commits."""

from __future__ import annotations

import uuid

from crm_platform.auth import Principal
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.pipelines.exceptions import PipelineNotFound, StageNotFound
from crm_deals.pipelines.models import Pipeline, Stage
from crm_deals.pipelines.repository import PipelineRepository
from crm_deals.pipelines.schemas import PipelineCreate, PipelineUpdate, StageUpdate


def first_open_stage(pipeline: Pipeline) -> Stage:
    return next(s for s in pipeline.stages if s.kind == "open")


class PipelineService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = PipelineRepository(session)

    async def list(self) -> list[Pipeline]:
        return await self.repo.all()

    async def get(self, pipeline_id: uuid.UUID) -> Pipeline:
        pipeline = await self.repo.get(pipeline_id)
        if pipeline is None:
            raise PipelineNotFound(f"pipeline {pipeline_id} does not exist")
        return pipeline

    async def default(self) -> Pipeline:
        pipeline = await self.repo.default()
        if pipeline is None:
            raise PipelineNotFound("there is no default pipeline")
        return pipeline

    async def resolve(self, pipeline_id: uuid.UUID | None, field: str = "pipeline_id") -> Pipeline:
        """The given pipeline (as a 422 on ``field`` when unknown) or the default one."""
        if pipeline_id is None:
            return await self.default()
        pipeline = await self.repo.get(pipeline_id)
        if pipeline is None:
            raise ValidationFailed({field: "no such pipeline"})
        return pipeline

    async def create(self, data: PipelineCreate, who: Principal) -> Pipeline:
        who.require("admin")
        names = [s.name.strip() for s in data.stages] + [
            data.won_stage_name.strip(),
            data.lost_stage_name.strip(),
        ]
        errors = {
            f"stages.{i}.name": "stage names must be unique in a pipeline"
            for i, name in enumerate(names[: len(data.stages)])
            if names.count(name) > 1
        }
        if names[-1] == names[-2]:
            errors["lost_stage_name"] = "must differ from won_stage_name"
        if errors:
            raise ValidationFailed(errors)
        if data.is_default:
            await self.repo.clear_default()
        pipeline = Pipeline(id=new_id(), name=data.name.strip(), is_default=data.is_default)
        stages = [
            Stage(
                id=new_id(),
                name=s.name.strip(),
                position=i,
                kind="open",
                probability=s.probability,
                forecast_category=s.forecast_category,
                max_days_in_stage=s.max_days_in_stage,
            )
            for i, s in enumerate(data.stages, start=1)
        ]
        n = len(stages)
        stages.append(
            Stage(
                id=new_id(),
                name=names[-2],
                position=n + 1,
                kind="won",
                probability=100,
                forecast_category="closed",
                max_days_in_stage=0,
            )
        )
        stages.append(
            Stage(
                id=new_id(),
                name=names[-1],
                position=n + 2,
                kind="lost",
                probability=0,
                forecast_category="omitted",
                max_days_in_stage=0,
            )
        )
        pipeline.stages = stages
        return await self.repo.add(pipeline)

    async def update(self, pipeline_id: uuid.UUID, data: PipelineUpdate, who: Principal) -> Pipeline:
        who.require("admin")
        pipeline = await self.get(pipeline_id)
        if data.name is not None:
            pipeline.name = data.name.strip()
        if data.is_default and not pipeline.is_default:
            await self.repo.clear_default()
            pipeline.is_default = True
        await self.session.flush()
        return pipeline

    async def update_stage(
        self, pipeline_id: uuid.UUID, stage_id: uuid.UUID, data: StageUpdate, who: Principal
    ) -> Stage:
        who.require("admin")
        stage = await self.repo.get_stage(stage_id)
        if stage is None or stage.pipeline_id != pipeline_id:
            raise StageNotFound(f"stage {stage_id} is not a stage of pipeline {pipeline_id}")
        if stage.kind != "open" and (data.probability is not None or data.forecast_category is not None):
            raise ValidationFailed(
                {"probability": "closed stages keep 100 % (won) and 0 % (lost) and their categories"}
            )
        if data.name is not None:
            stage.name = data.name.strip()
        if data.probability is not None:
            stage.probability = data.probability
        if data.forecast_category is not None:
            stage.forecast_category = data.forecast_category
        if data.max_days_in_stage is not None:
            stage.max_days_in_stage = data.max_days_in_stage
        await self.session.flush()
        return stage
