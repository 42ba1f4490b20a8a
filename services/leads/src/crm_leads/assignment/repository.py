"""All SQL of the assignment engine: reps, rules, pool state (row-locked), decisions, loads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from crm_platform.db import driver_execute, insert_rows, new_object, select_copies, upsert_rows
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.assignment.models import AssignmentDecision, AssignmentRule, PoolState, Rep
from crm_leads.leads.models import OPEN_STATUSES, Lead

LOCK_POOL = (
    "INSERT INTO assignment_pool_state (rule_id, counter, weights) VALUES ($1, 0, '{}')"
    " ON CONFLICT (rule_id) DO UPDATE SET rule_id = EXCLUDED.rule_id"
    " RETURNING counter, weights::text AS weights"
)


class AssignmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def active_config(self) -> tuple[list[AssignmentRule], dict[str, Rep]]:
        """The active rules in order and the reps they name, as read-only copies (no session) for the
        per-process config cache."""
        rule_t, rep_t = AssignmentRule.__table__, Rep.__table__
        rules = await select_copies(
            self.session,
            AssignmentRule,
            select(rule_t).where(rule_t.c.active.is_(True)).order_by(rule_t.c.position, rule_t.c.created_at),
        )
        ids = sorted({rep_id for rule in rules for rep_id in rule.rep_ids})
        reps = await select_copies(self.session, Rep, select(rep_t).where(rep_t.c.id.in_(ids))) if ids else []
        return rules, {rep.id: rep for rep in reps}

    async def rules(self) -> list[AssignmentRule]:
        stmt = select(AssignmentRule).order_by(AssignmentRule.position, AssignmentRule.created_at)
        return list((await self.session.scalars(stmt)).all())

    async def rule(self, rule_id: uuid.UUID) -> AssignmentRule | None:
        return await self.session.get(AssignmentRule, rule_id)

    async def add(self, obj: Any) -> None:
        self.session.add(obj)
        await self.session.flush()

    async def add_decisions(self, rows: Sequence[dict[str, Any]]) -> None:
        await insert_rows(self.session, AssignmentDecision.__table__, rows)

    async def delete(self, obj: Any) -> None:
        await self.session.delete(obj)
        await self.session.flush()

    async def rep(self, rep_id: str) -> Rep | None:
        return await self.session.get(Rep, rep_id)

    async def reps(self, ids: Sequence[str] | None = None, team: str | None = None) -> list[Rep]:
        stmt = select(Rep).order_by(Rep.id)
        if ids is not None:
            stmt = stmt.where(Rep.id.in_(ids))
        if team:
            stmt = stmt.where(Rep.team == team)
        return list((await self.session.scalars(stmt)).all())

    async def lock_pool(self, rule_id: uuid.UUID) -> PoolState:
        """Create the state row if missing and lock it until the transaction ends, in one statement
        (run through asyncpg itself: one of the create's few statements). The state is a plain
        copy, written back by save_pools with the transaction's other rows."""
        (row,) = await driver_execute(self.session, LOCK_POOL, rule_id)
        weights = orjson.loads(row["weights"])
        return new_object(PoolState, rule_id=rule_id, counter=row["counter"], weights=weights)

    async def save_pools(self, states: Sequence[PoolState]) -> None:
        """Write back locked pool states (collected into the create's one statement, see
        crm_platform.db.coalesced_inserts): no round trip of its own while the lock is held."""
        rows = [{"rule_id": s.rule_id, "counter": s.counter, "weights": s.weights} for s in states]
        await upsert_rows(self.session, PoolState.__table__, rows, key=["rule_id"])

    async def open_loads(self, rep_ids: Sequence[str]) -> dict[str, int]:
        stmt = (
            select(Lead.owner_id, func.count())
            .where(Lead.owner_id.in_(rep_ids), Lead.status.in_(OPEN_STATUSES))
            .group_by(Lead.owner_id)
        )
        return {str(owner): int(n) for owner, n in (await self.session.execute(stmt)).all()}

    async def decisions(self, lead_id: uuid.UUID) -> list[AssignmentDecision]:
        stmt = (
            select(AssignmentDecision)
            .where(AssignmentDecision.lead_id == lead_id)
            .order_by(AssignmentDecision.created_at)
        )
        return list((await self.session.scalars(stmt)).all())

    async def unassigned_lead_ids(self, limit: int) -> list[uuid.UUID]:
        stmt = (
            select(Lead.id)
            .where(Lead.owner_id.is_(None), Lead.status.in_(OPEN_STATUSES))
            .order_by(Lead.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(stmt)).all())
