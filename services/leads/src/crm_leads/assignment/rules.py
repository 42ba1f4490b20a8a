"""Pure assignment logic: rule conditions, rep availability and the three strategies."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CONDITION_FIELDS = (
    "source",
    "campaign",
    "country",
    "region",
    "city",
    "industry",
    "annual_revenue",
    "employee_count",
    "intake_channel",
    "rating",
    "title",
    "company",
)
OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "contains", "exists")
STRATEGIES = ("round_robin", "least_loaded", "weighted")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _num(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _norm(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def condition_holds(cond: Mapping[str, Any], lead: Mapping[str, Any]) -> bool:
    field = str(cond.get("field", ""))
    op = cond.get("op", "eq")
    expected = cond.get("value")
    if field.startswith("custom."):
        actual = (lead.get("custom_fields") or {}).get(field[7:])
    else:
        actual = lead.get(field)
    if op == "exists":
        return actual not in (None, "", [])
    if actual is None or actual == "":
        return op in ("ne", "not_in")
    if op in ("gt", "gte", "lt", "lte"):
        a, b = _num(actual), _num(expected)
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    a = _norm(actual)
    if op == "eq":
        return bool(a == _norm(expected))
    if op == "ne":
        return bool(a != _norm(expected))
    if op in ("in", "not_in"):
        values = [_norm(v) for v in (expected or [])]
        return (a in values) == (op == "in")
    if op == "contains":
        return isinstance(a, str) and str(_norm(expected)) in a
    return False


def rule_matches(conditions: Sequence[Mapping[str, Any]], lead: Mapping[str, Any]) -> bool:
    """All conditions must hold (an empty list matches every lead)."""
    return all(condition_holds(c, lead) for c in conditions)


def validate_conditions(conditions: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for i, c in enumerate(conditions):
        field = str(c.get("field", ""))
        if field not in CONDITION_FIELDS and not (field.startswith("custom.") and len(field) > 7):
            errors[f"conditions.{i}.field"] = (
                f"unknown field; use one of {', '.join(CONDITION_FIELDS)} or custom.<key>"
            )
        op = c.get("op", "eq")
        if op not in OPERATORS:
            errors[f"conditions.{i}.op"] = f"unknown operator; use one of {', '.join(OPERATORS)}"
        elif op in ("in", "not_in") and not isinstance(c.get("value"), list):
            errors[f"conditions.{i}.value"] = "must be a list for in/not_in"
        elif op in ("gt", "gte", "lt", "lte") and _num(c.get("value")) is None:
            errors[f"conditions.{i}.value"] = "must be a number"
    return errors


@dataclass(frozen=True)
class RepView:
    id: str
    active: bool = True
    weight: int = 1
    timezone: str = "UTC"
    working_hours: Mapping[str, Any] | None = None
    vacation_from: dt.date | None = None
    vacation_until: dt.date | None = None
    max_open_leads: int | None = None


def _parse_hhmm(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


def availability(rep: RepView, now: dt.datetime, open_leads: int = 0) -> tuple[bool, str]:
    """Whether a rep can take a lead now, and why not."""
    if not rep.active:
        return False, "inactive"
    try:
        local = now.astimezone(ZoneInfo(rep.timezone or "UTC"))
    except ZoneInfoNotFoundError:
        local = now
    today = local.date()
    if (
        rep.vacation_from
        and rep.vacation_from <= today
        and (rep.vacation_until is None or today <= rep.vacation_until)
    ):
        return False, "on vacation"
    if rep.working_hours:
        spans = rep.working_hours.get(WEEKDAYS[local.weekday()]) or []
        t = local.time()
        if not any(_parse_hhmm(a) <= t < _parse_hhmm(b) for a, b in spans):
            return False, "outside working hours"
    if rep.max_open_leads is not None and open_leads >= rep.max_open_leads:
        return False, "at capacity"
    return True, "available"


def validate_working_hours(hours: Mapping[str, Any]) -> dict[str, str]:
    errors: dict[str, str] = {}
    for day, spans in hours.items():
        if day not in WEEKDAYS:
            errors[f"working_hours.{day}"] = "day must be one of mon..sun"
            continue
        if not isinstance(spans, list):
            errors[f"working_hours.{day}"] = 'must be a list of ["HH:MM", "HH:MM"] spans'
            continue
        for j, span in enumerate(spans):
            try:
                start, end = (_parse_hhmm(x) for x in span)
                if not start < end:
                    raise ValueError
            except (TypeError, ValueError):
                errors[f"working_hours.{day}.{j}"] = 'must be ["HH:MM", "HH:MM"] with start before end'
    return errors


def pick_round_robin(pool: Sequence[str], available: set[str], counter: int) -> tuple[str | None, int]:
    """Next available rep after the pointer; returns (rep, new counter). Exact: each turn used once."""
    n = len(pool)
    for k in range(n):
        rep = pool[(counter + k) % n]
        if rep in available:
            return rep, counter + k + 1
    return None, counter


def pick_least_loaded(
    pool: Sequence[str], available: set[str], loads: Mapping[str, int], counter: int
) -> tuple[str | None, int]:
    """Fewest open leads; ties broken in round-robin order so equal reps alternate."""
    n = len(pool)
    best: str | None = None
    best_k = 0
    for k in range(n):
        rep = pool[(counter + k) % n]
        if rep in available and (best is None or loads.get(rep, 0) < loads.get(best, 0)):
            best, best_k = rep, k
    return (best, counter + best_k + 1) if best else (None, counter)


def pick_weighted(
    pool: Sequence[str], available: set[str], weights: Mapping[str, int], current: dict[str, int]
) -> str | None:
    """Smooth weighted round-robin (as in nginx): exact shares, evenly interleaved. Mutates ``current``."""
    candidates = [r for r in pool if r in available and weights.get(r, 1) > 0]
    if not candidates:
        return None
    total = sum(weights.get(r, 1) for r in candidates)
    for r in candidates:
        current[r] = current.get(r, 0) + weights.get(r, 1)
    chosen = max(candidates, key=lambda r: current[r])
    current[chosen] -= total
    return chosen
