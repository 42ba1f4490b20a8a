"""Rules as data: CRUD, condition evaluation, and turning an event into notifications. Flushes only."""

from __future__ import annotations

import uuid
from typing import Any

from crm_platform.auth import Principal
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.rules.events import RULE_EVENTS, lookup
from crm_notify.rules.exceptions import RuleNotFound
from crm_notify.rules.models import Rule
from crm_notify.rules.repository import RuleRepository
from crm_notify.rules.schemas import RuleIn

EDITOR_ROLES = ("admin", "manager")


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def condition_holds(data: dict[str, Any], condition: dict[str, Any]) -> bool:
    found, actual = lookup(data, condition["field"])
    op, expected = condition.get("op", "eq"), condition.get("value")
    if op == "exists":
        return found and actual not in (None, "", [], {})
    if op == "not_exists":
        return not found or actual in (None, "", [], {})
    if op == "eq":
        return found and actual == expected
    if op == "ne":
        return not found or actual != expected
    if op == "in":
        return found and isinstance(expected, list) and actual in expected
    if op == "not_in":
        return not (found and isinstance(expected, list) and actual in expected)
    if op == "contains":
        return found and isinstance(actual, list | str) and expected in actual
    a, b = _number(actual), _number(expected)
    if a is None or b is None:
        return False
    return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}.get(op, False)


def matches(rule: Rule, data: dict[str, Any]) -> bool:
    return all(condition_holds(data, c) for c in rule.conditions or [])


def _check(data: RuleIn) -> None:
    if data.event_subject not in RULE_EVENTS:
        raise ValidationFailed({"event_subject": f"must be one of {', '.join(sorted(RULE_EVENTS))}"})
    r = data.recipient
    if r in ("owner", "previous_owner", "lead") or (r.startswith("user:") and len(r) > 5):
        return
    if "@" not in r and not r.lstrip("+").isdigit():
        raise ValidationFailed(
            {"recipient": 'must be "owner", "previous_owner", "lead", "user:<id>" or an address'}
        )


class RuleService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = RuleRepository(session)

    async def create(self, data: RuleIn, who: Principal) -> Rule:
        who.require(*EDITOR_ROLES)
        _check(data)
        values = data.model_dump()
        return await self.repo.add(Rule(id=new_id(), **values))

    async def get(self, rule_id: uuid.UUID, who: Principal) -> Rule:
        who.require(*EDITOR_ROLES)
        rule = await self.repo.get(rule_id)
        if rule is None:
            raise RuleNotFound(f"rule {rule_id} does not exist")
        return rule

    async def search(self, who: Principal, subject: str | None = None) -> list[Rule]:
        who.require(*EDITOR_ROLES)
        return await self.repo.search(subject)

    async def replace(self, rule_id: uuid.UUID, data: RuleIn, who: Principal) -> Rule:
        rule = await self.get(rule_id, who)
        _check(data)
        for name, value in data.model_dump().items():
            setattr(rule, name, value)
        await self.session.flush()
        return rule

    async def delete(self, rule_id: uuid.UUID, who: Principal) -> None:
        await self.repo.delete(await self.get(rule_id, who))

    async def matching(self, subject: str, data: dict[str, Any]) -> list[Rule]:
        return [r for r in await self.repo.enabled_for(subject) if matches(r, data)]
