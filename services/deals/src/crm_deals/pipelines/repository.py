"""All SQL on pipelines and stages."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.pipelines.models import Pipeline, Stage


class PipelineRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, pipeline: Pipeline) -> Pipeline:
        self.session.add(pipeline)
        await self.session.flush()
        return pipeline

    async def get(self, pipeline_id: uuid.UUID) -> Pipeline | None:
        return await self.session.get(Pipeline, pipeline_id)

    async def default(self) -> Pipeline | None:
        stmt = select(Pipeline).where(Pipeline.is_default.is_(True))
        return (await self.session.scalars(stmt)).first()

    async def all(self) -> list[Pipeline]:
        stmt = select(Pipeline).order_by(Pipeline.is_default.desc(), Pipeline.created_at, Pipeline.id)
        return list((await self.session.scalars(stmt)).all())

    async def get_stage(self, stage_id: uuid.UUID) -> Stage | None:
        return await self.session.get(Stage, stage_id)

    async def stages_of(self, pipeline_id: uuid.UUID) -> list[Stage]:
        stmt = select(Stage).where(Stage.pipeline_id == pipeline_id).order_by(Stage.position)
        return list((await self.session.scalars(stmt)).all())

    async def clear_default(self) -> None:
        await self.session.execute(
            update(Pipeline).where(Pipeline.is_default.is_(True)).values(is_default=False)
        )
        await self.session.flush()
