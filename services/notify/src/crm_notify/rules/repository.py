"""All SQL on rules."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.rules.models import Rule


class RuleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, rule: Rule) -> Rule:
        self.session.add(rule)
        await self.session.flush()
        return rule

    async def get(self, rule_id: uuid.UUID) -> Rule | None:
        return await self.session.get(Rule, rule_id)

    async def search(self, subject: str | None) -> list[Rule]:
        stmt = select(Rule).order_by(Rule.event_subject, Rule.created_at)
        if subject:
            stmt = stmt.where(Rule.event_subject == subject)
        return list((await self.session.scalars(stmt)).all())

    async def enabled_for(self, subject: str) -> list[Rule]:
        stmt = (
            select(Rule)
            .where(Rule.event_subject == subject, Rule.enabled.is_(True))
            .order_by(Rule.created_at, Rule.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def delete(self, rule: Rule) -> None:
        await self.session.delete(rule)
        await self.session.flush()
