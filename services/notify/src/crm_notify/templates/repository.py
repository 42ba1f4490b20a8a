"""All SQL on templates."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.templates.models import Template


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, template: Template) -> Template:
        self.session.add(template)
        await self.session.flush()
        return template

    async def get(self, template_id: uuid.UUID) -> Template | None:
        return await self.session.get(Template, template_id)

    async def find(self, key: str, channel: str, locale: str) -> Template | None:
        return await self.session.scalar(
            select(Template).where(
                Template.key == key, Template.channel == channel, Template.locale == locale
            )
        )

    async def search(self, key: str | None, channel: str | None, locale: str | None) -> list[Template]:
        stmt = select(Template).order_by(Template.key, Template.channel, Template.locale)
        if key:
            stmt = stmt.where(Template.key == key)
        if channel:
            stmt = stmt.where(Template.channel == channel)
        if locale:
            stmt = stmt.where(Template.locale == locale)
        return list((await self.session.scalars(stmt)).all())

    async def delete(self, template: Template) -> None:
        await self.session.delete(template)
        await self.session.flush()
