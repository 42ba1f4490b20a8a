"""Assignment engine: ordered rules -> pool -> strategy, skipping unavailable reps; every decision is
stored and emitted as crm.leads.lead.assigned. The pool's state row is locked while choosing, so
concurrent intakes never get the same turn. Flushes, never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crm.leads.v1 import events_pb2
from crm_platform.config_cache import config_cache
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, ValidationFailed
from crm_platform.ids import new_id
from crm_platform.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.assignment import rules as logic
from crm_leads.assignment.exceptions import RepNotFound, RuleNotFound
from crm_leads.assignment.models import AssignmentDecision, AssignmentRule, Rep
from crm_leads.assignment.repository import AssignmentRepository
from crm_leads.db import tables
from crm_leads.leads import events
from crm_leads.leads.models import OPEN_STATUSES, Lead
from crm_leads.leads.repository import LeadRepository


def rep_view(rep: Rep) -> logic.RepView:
    return logic.RepView(
        id=rep.id,
        active=rep.active,
        weight=rep.weight,
        timezone=rep.timezone,
        working_hours=rep.working_hours or None,
        vacation_from=rep.vacation_from,
        vacation_until=rep.vacation_until,
        max_open_leads=rep.max_open_leads,
    )


@dataclass
class Choice:
    """What the engine decided for one lead, before it is written."""

    lead: Lead
    rule: AssignmentRule | None
    strategy: str
    candidates: list[dict[str, Any]]
    rep: Rep | None
    reason: str


def lead_facts(lead: Lead) -> dict[str, Any]:
    return {f: getattr(lead, f) for f in logic.CONDITION_FIELDS} | {"custom_fields": lead.custom_fields}


class AssignmentService:
    def __init__(self, session: AsyncSession, followup_minutes: int = 60) -> None:
        self.session = session
        self.repo = AssignmentRepository(session)
        self.leads = LeadRepository(session)
        self.followup_minutes = followup_minutes
        # one instance serves one transaction: rules, locked pool states, reps and loads are read once
        self._rules: list[AssignmentRule] | None = None
        self._rule_reps: dict[str, Rep] = {}  # the reps the active rules name (read-only copies)
        self._pools: dict[uuid.UUID, Any] = {}
        self._reps: dict[uuid.UUID, dict[str, Rep]] = {}
        self._loads: dict[uuid.UUID, dict[str, int]] = {}
        self._counted: set[uuid.UUID] = set()

    # --- the engine ------------------------------------------------------------------------------
    async def assign_new(
        self, lead: Lead, actor: str = "system", now: dt.datetime | None = None
    ) -> AssignmentDecision:
        """Run the rules for a lead without an owner; the first matching rule decides."""
        return (await self.assign_many([lead], actor, now))[0]

    async def assign_many(
        self,
        leads: Sequence[Lead],
        actor: str = "system",
        now: dt.datetime | None = None,
        *,
        answer: bool = True,
    ) -> list[AssignmentDecision]:
        """Assign new leads in order (one intake or batch): choices in memory, writes in bulk; the
        stored decisions are returned unless ``answer`` is off."""
        now = now or utcnow()
        if self._rules is None:  # per-process copy, checked against config_version in this transaction
            self._rules, self._rule_reps = await config_cache.get(
                self.session, "leads.assignment", self.repo.active_config
            )
        rules: list[AssignmentRule] = self._rules or []
        chosen: list[Choice] = []
        for lead in leads:
            facts = lead_facts(lead)
            rule = next((r for r in rules if r.rep_ids and logic.rule_matches(r.conditions, facts)), None)
            if rule is None:
                chosen.append(
                    Choice(lead, None, "", [], None, "no assignment rule matched; lead waits in the queue")
                )
            else:
                chosen.append(await self._choose(lead, rule, now))
        return await self._record(chosen, actor, answer=answer)

    async def _choose(self, lead: Lead, rule: AssignmentRule, now: dt.datetime) -> Choice:
        if rule.id not in self._pools:  # locked until the transaction ends: concurrent intakes queue here
            # the reps come with the rules (read before the lock: the lock is held until the commit,
            # so the fewer round trips after it, the sooner the next intake of this pool gets its turn)
            self._reps[rule.id] = {r: self._rule_reps[r] for r in rule.rep_ids if r in self._rule_reps}
            self._pools[rule.id] = await self.repo.lock_pool(rule.id)
            needs_loads = rule.strategy == "least_loaded" or any(
                r.max_open_leads is not None for r in self._reps[rule.id].values()
            )  # counting open leads grows with the pool's backlog: only when a strategy or a cap needs it
            self._loads[rule.id] = await self.repo.open_loads(rule.rep_ids) if needs_loads else {}
            if needs_loads:
                self._counted.add(rule.id)
        state, reps, loads = self._pools[rule.id], self._reps[rule.id], self._loads[rule.id]
        candidates: list[dict[str, Any]] = []
        available: set[str] = set()
        for rep_id in rule.rep_ids:
            rep = reps.get(rep_id)
            ok, why = (
                (False, "unknown rep")
                if rep is None
                else logic.availability(rep_view(rep), now, loads.get(rep_id, 0))
            )
            candidate: dict[str, Any] = {"rep_id": rep_id, "available": ok, "why": why}
            if rule.id in self._counted:
                candidate["open_leads"] = loads.get(rep_id, 0)
            candidates.append(candidate)
            if ok:
                available.add(rep_id)
        picked: str | None
        if rule.strategy == "least_loaded":
            picked, state.counter = logic.pick_least_loaded(rule.rep_ids, available, loads, state.counter)
            reason = f"fewest open leads ({loads.get(picked or '', 0)})" if picked else ""
        elif rule.strategy == "weighted":
            current = dict(state.weights or {})
            weights = {r.id: r.weight for r in reps.values()}
            picked = logic.pick_weighted(rule.rep_ids, available, weights, current)
            state.weights = current
            reason = f"weighted capacity (weight {weights.get(picked or '', 0)})" if picked else ""
        else:
            picked, state.counter = logic.pick_round_robin(rule.rep_ids, available, state.counter)
            reason = "next in round-robin turn" if picked else ""
        if picked is None:
            return Choice(
                lead,
                rule,
                rule.strategy,
                candidates,
                None,
                f"rule {rule.name!r}: no available rep; lead waits in the queue",
            )
        loads[picked] = loads.get(picked, 0) + 1
        return Choice(lead, rule, rule.strategy, candidates, reps[picked], f"rule {rule.name!r}: {reason}")

    async def _record(
        self,
        choices: Sequence[Choice],
        actor: str,
        followup_minutes: int | None = None,
        *,
        answer: bool = True,
    ) -> list[AssignmentDecision]:
        """Store the decisions, give the chosen leads to their reps (audit, event, first follow-up);
        returns the decisions unless ``answer`` is off (bulk intake does not read them)."""
        from crm_leads.activities.service import ActivityService  # activities builds on assignment

        now = utcnow()
        # plain rows (a batch makes hundreds: ORM objects cost more than the rest of the decision)
        rows: list[dict[str, Any]] = [
            {
                "id": new_id(),
                "lead_id": c.lead.id,
                "rule_id": c.rule.id if c.rule else None,
                "strategy": c.strategy,
                "candidates": c.candidates,
                "chosen_rep_id": c.rep.id if c.rep else None,
                "reason": c.reason,
                "actor": actor,
                "created_at": now,
            }
            for c in choices
        ]
        await self.repo.add_decisions(rows)
        await self.repo.save_pools(list(self._pools.values()))
        given = [(c, d) for c, d in zip(choices, rows, strict=True) if c.rep is not None]
        audits: list[dict[str, Any]] = []
        assigned: list[tuple[str, Any, str]] = []
        new_owner: list[tuple[Lead, str, int]] = []
        moved: list[tuple[Lead, str, str]] = []
        for c, d in given:
            assert c.rep is not None
            lead, previous = c.lead, c.lead.owner_id
            lead.owner_id, lead.team = c.rep.id, c.rep.team or lead.team
            lead.assigned_at = lead.updated_at = now
            audits.append(
                {
                    "lead_id": lead.id,
                    "actor": actor,
                    "action": "assigned",
                    "changes": {
                        "owner_id": [previous, c.rep.id],
                        "reason": d["reason"],
                        "decision_id": str(d["id"]),
                    },
                }
            )
            assigned.append(
                (
                    events.LEAD_ASSIGNED,
                    events_pb2.LeadAssigned(
                        lead_id=str(lead.id),
                        owner_id=c.rep.id,
                        previous_owner_id=previous or "",
                        rule_id=str(d["rule_id"] or ""),
                        reason=d["reason"],
                    ),
                    str(lead.id),
                )
            )
            minutes = followup_minutes or (c.rule.followup_minutes if c.rule else self.followup_minutes)
            if previous is None:
                new_owner.append((lead, c.rep.id, minutes))
            else:
                moved.append((lead, c.rep.id, previous))
        await self.leads.add_audits(audits)
        await add_events(self.session, tables, assigned, producer="leads")
        activities = ActivityService(self.session)
        if new_owner:
            await activities.create_first_followups(new_owner, actor=actor)
        for lead, rep_id, previous in moved:
            await activities.reassign_open_tasks(lead.id, rep_id, previous)
        await self.session.flush()
        return [AssignmentDecision(**row) for row in rows] if answer else []

    async def reassign(
        self, lead: Lead, owner_id: str | None, actor: str, reason: str = ""
    ) -> AssignmentDecision:
        """Manual reassignment to a rep, or (owner_id None) a fresh run of the rules."""
        if lead.status not in OPEN_STATUSES:
            raise Conflict(f"a {lead.status} lead cannot be reassigned", type_slug="lead-closed")
        if owner_id is None:
            lead_was = lead.owner_id
            lead.owner_id = None
            decision = await self.assign_new(lead, actor)
            if decision.chosen_rep_id is None:
                lead.owner_id = lead_was
            return decision
        rep = await self.repo.rep(owner_id)
        if rep is None:
            raise RepNotFound(f"rep {owner_id} does not exist")
        if not rep.active:
            raise Conflict(f"rep {owner_id} is inactive", type_slug="rep-inactive")
        if lead.owner_id == rep.id:
            raise Conflict(f"lead is already owned by {owner_id}", type_slug="already-owner")
        choice = Choice(
            lead,
            None,
            "manual",
            [{"rep_id": rep.id, "available": True, "why": "chosen by hand"}],
            rep,
            f"manual reassignment by {actor}" + (f": {reason}" if reason else ""),
        )
        return (await self._record([choice], actor, followup_minutes=self.followup_minutes))[0]

    async def retry_unassigned(self, limit: int = 200) -> int:
        """Periodic: leads that waited (no rule, nobody available) get another chance."""
        assigned = 0
        for lead_id in await self.repo.unassigned_lead_ids(limit):
            lead = await self.leads.get(lead_id)
            if lead is None:
                continue
            decision = await self.assign_new(lead, "system")
            assigned += decision.chosen_rep_id is not None
        return assigned

    async def decisions(self, lead_id: uuid.UUID) -> list[AssignmentDecision]:
        return await self.repo.decisions(lead_id)

    # --- reps and rules administration -------------------------------------------------------------
    async def upsert_rep(self, rep_id: str, values: dict[str, Any]) -> Rep:
        errors = logic.validate_working_hours(values.get("working_hours") or {})
        if values.get("timezone"):
            try:
                logic.ZoneInfo(values["timezone"])
            except (logic.ZoneInfoNotFoundError, ValueError):
                errors["timezone"] = "unknown IANA time zone"
        if errors:
            raise ValidationFailed(errors)
        rep = await self.repo.rep(rep_id)
        if rep is None:
            rep = Rep(id=rep_id, created_at=utcnow(), **values)
            await self.repo.add(rep)
        else:
            for key, value in values.items():
                setattr(rep, key, value)
            await self.session.flush()
        return rep

    async def get_rep(self, rep_id: str) -> Rep:
        rep = await self.repo.rep(rep_id)
        if rep is None:
            raise RepNotFound(f"rep {rep_id} does not exist")
        return rep

    async def list_reps(self, team: str | None = None) -> list[Rep]:
        return await self.repo.reps(team=team)

    async def _check_rule(self, values: dict[str, Any]) -> None:
        errors = logic.validate_conditions(values.get("conditions") or [])
        if "strategy" in values and values["strategy"] not in logic.STRATEGIES:
            errors["strategy"] = f"use one of {', '.join(logic.STRATEGIES)}"
        rep_ids = values.get("rep_ids")
        if rep_ids is not None:
            known = {r.id for r in await self.repo.reps(rep_ids)}
            for i, rep_id in enumerate(rep_ids):
                if rep_id not in known:
                    errors[f"rep_ids.{i}"] = f"unknown rep {rep_id}"
            if len(set(rep_ids)) != len(rep_ids):
                errors["rep_ids"] = "a rep may appear only once in a pool"
        if errors:
            raise ValidationFailed(errors)

    async def create_rule(self, values: dict[str, Any]) -> AssignmentRule:
        await self._check_rule(values)
        rule = AssignmentRule(id=new_id(), created_at=utcnow(), **values)
        await self.repo.add(rule)
        return rule

    async def update_rule(self, rule_id: uuid.UUID, values: dict[str, Any]) -> AssignmentRule:
        rule = await self.get_rule(rule_id)
        await self._check_rule(values)
        for key, value in values.items():
            setattr(rule, key, value)
        await self.session.flush()
        return rule

    async def get_rule(self, rule_id: uuid.UUID) -> AssignmentRule:
        rule = await self.repo.rule(rule_id)
        if rule is None:
            raise RuleNotFound(f"assignment rule {rule_id} does not exist")
        return rule

    async def delete_rule(self, rule_id: uuid.UUID) -> None:
        await self.repo.delete(await self.get_rule(rule_id))

    async def list_rules(self) -> list[AssignmentRule]:
        return await self.repo.rules()
