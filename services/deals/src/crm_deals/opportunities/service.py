"""Opportunities: create, update, move through stages (with full history and time spent), snooze the
stalled alert, activities; the stalled-opportunity job. Flushes, never commits."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import Forbidden, ValidationFailed
from crm_platform.ids import new_id
from crm_platform.outbox import add_event
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.access import can_see, decode_cursor, default_owner, encode_cursor, visible_to
from crm_deals.db import tables
from crm_deals.opportunities import events
from crm_deals.opportunities.exceptions import (
    ActivityNotCompletable,
    ActivityNotFound,
    OpportunityNotFound,
)
from crm_deals.opportunities.models import DealActivity, Opportunity, Snooze, StageHistory
from crm_deals.opportunities.repository import OpportunityRepository
from crm_deals.opportunities.schemas import (
    ActivityCreate,
    OpportunityCreate,
    OpportunityUpdate,
    SnoozeIn,
    StageMove,
)
from crm_deals.organizations.repository import OrganizationRepository
from crm_deals.pipelines.models import Pipeline, Stage
from crm_deals.pipelines.repository import PipelineRepository
from crm_deals.pipelines.service import PipelineService, first_open_stage

MAX_SNOOZE_DAYS = 366


class OpportunityService:
    def __init__(self, session: AsyncSession, default_currency: str = "EUR") -> None:
        self.session = session
        self.repo = OpportunityRepository(session)
        self.pipelines = PipelineRepository(session)
        self.default_currency = default_currency

    # --- primitives (also used by lead conversion) ---------------------------------------------------
    async def new_opportunity(
        self,
        *,
        name: str,
        pipeline: Pipeline,
        stage: Stage,
        owner_id: str | None,
        team: str,
        actor: str,
        organization_id: uuid.UUID | None,
        contact_id: uuid.UUID | None,
        amount: Decimal,
        currency: str,
        expected_close_date: dt.date | None = None,
        probability: int | None = None,
        source: str = "",
        campaign: str = "",
        next_step: str = "",
        lead_id: uuid.UUID | None = None,
    ) -> Opportunity:
        now = utcnow()
        opportunity = Opportunity(
            id=new_id(),
            name=name,
            pipeline_id=pipeline.id,
            stage_id=stage.id,
            organization_id=organization_id,
            contact_id=contact_id,
            amount=amount,
            currency=currency,
            probability=stage.probability if probability is None else probability,
            forecast_category=stage.forecast_category,
            status="open",
            expected_close_date=expected_close_date,
            owner_id=owner_id,
            team=team,
            source=source,
            campaign=campaign,
            next_step=next_step,
            lead_id=lead_id,
            stage_entered_at=now,
            furthest_position=stage.position,
            created_at=now,
            updated_at=now,
        )
        await self.repo.add(opportunity)
        await self.repo.add_history(
            StageHistory(
                id=new_id(),
                opportunity_id=opportunity.id,
                from_stage_id=None,
                to_stage_id=stage.id,
                changed_by=actor,
                changed_at=now,
                reason="created",
            )
        )
        await self._emit(events.OPPORTUNITY_CREATED, events.opportunity_created(opportunity), opportunity)
        return opportunity

    async def _emit(self, subject: str, message: Any, opportunity: Opportunity) -> None:
        await add_event(
            self.session, tables, subject, message, producer="deals", aggregate_id=str(opportunity.id)
        )

    async def _links(
        self, organization_id: uuid.UUID | None, contact_id: uuid.UUID | None, who: Principal
    ) -> dict[str, str]:
        errors: dict[str, str] = {}
        orgs = OrganizationRepository(self.session)
        if organization_id is not None:
            org = await orgs.get_organization(organization_id)
            if org is None or not can_see(who, org.owner_id, org.team):
                errors["organization_id"] = "no such organization"
        if contact_id is not None:
            contact = await orgs.get_contact(contact_id)
            if contact is None or not can_see(who, contact.owner_id, contact.team):
                errors["contact_id"] = "no such contact"
        return errors

    # --- REST operations -----------------------------------------------------------------------------
    async def create(self, data: OpportunityCreate, who: Principal) -> Opportunity:
        pipeline = await PipelineService(self.session).resolve(data.pipeline_id)
        errors = await self._links(data.organization_id, data.contact_id, who)
        stage = first_open_stage(pipeline)
        if data.stage_id is not None:
            found = next((s for s in pipeline.stages if s.id == data.stage_id), None)
            if found is None or found.kind != "open":
                errors["stage_id"] = "must be an open stage of the pipeline"
            else:
                stage = found
        owner = default_owner(who)
        if data.owner_id is not None:
            if not (who.is_admin or who.is_manager):
                raise Forbidden("only admins and managers choose the owner")
            owner = data.owner_id
        if errors:
            raise ValidationFailed(errors)
        return await self.new_opportunity(
            name=data.name.strip(),
            pipeline=pipeline,
            stage=stage,
            owner_id=owner,
            team=who.team,
            actor=who.subject,
            organization_id=data.organization_id,
            contact_id=data.contact_id,
            amount=data.amount,
            currency=data.currency or self.default_currency,
            expected_close_date=data.expected_close_date,
            probability=data.probability,
            source=data.source.strip(),
            campaign=data.campaign.strip(),
            next_step=data.next_step.strip(),
        )

    async def get(
        self, opportunity_id: uuid.UUID, who: Principal, *, for_update: bool = False
    ) -> Opportunity:
        opportunity = await self.repo.get(opportunity_id, for_update=for_update)
        if opportunity is None or not can_see(who, opportunity.owner_id, opportunity.team):
            raise OpportunityNotFound(f"opportunity {opportunity_id} does not exist or is not yours")
        return opportunity

    async def search(
        self,
        who: Principal,
        *,
        owner_id: str | None = None,
        pipeline_id: uuid.UUID | None = None,
        stage_id: uuid.UUID | None = None,
        status: str | None = None,
        organization_id: uuid.UUID | None = None,
        contact_id: uuid.UUID | None = None,
        q: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[Opportunity], str | None]:
        filters: list[ColumnElement[bool]] = []
        for column, value in (
            (Opportunity.owner_id, owner_id),
            (Opportunity.pipeline_id, pipeline_id),
            (Opportunity.stage_id, stage_id),
            (Opportunity.status, status),
            (Opportunity.organization_id, organization_id),
            (Opportunity.contact_id, contact_id),
        ):
            if value is not None:
                filters.append(column == value)
        after = decode_cursor(cursor) if cursor else None
        rows = await self.repo.search(
            visible_to(Opportunity, who), filters=filters, q=q, after=after, limit=limit + 1
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None)

    async def update(
        self, opportunity_id: uuid.UUID, patch: OpportunityUpdate, who: Principal
    ) -> Opportunity:
        opportunity = await self.get(opportunity_id, who, for_update=True)
        sent = patch.model_fields_set
        errors: dict[str, str] = {}
        if sent & {"organization_id", "contact_id"}:
            errors.update(await self._links(patch.organization_id, patch.contact_id, who))
            org = patch.organization_id if "organization_id" in sent else opportunity.organization_id
            contact = patch.contact_id if "contact_id" in sent else opportunity.contact_id
            if org is None and contact is None:
                errors["organization_id"] = "an opportunity needs an organization or a contact"
        if "owner_id" in sent and not (who.is_admin or who.is_manager):
            raise Forbidden("only admins and managers change owners")
        if sent & {"probability", "forecast_category"} and opportunity.status != "open":
            errors["probability"] = "a closed opportunity keeps its probability and category"
        for name in (
            "name",
            "amount",
            "currency",
            "probability",
            "forecast_category",
            "source",
            "campaign",
            "next_step",
        ):
            if name in sent and getattr(patch, name) is None:
                errors[name] = "may not be null"
        if errors:
            raise ValidationFailed(errors)
        for name in sorted(sent):
            value = getattr(patch, name)
            if isinstance(value, str) and name not in ("owner_id",):
                value = value.strip()
            setattr(opportunity, name, value)
        opportunity.updated_at = utcnow()
        await self.session.flush()
        return opportunity

    async def move_stage(self, opportunity_id: uuid.UUID, move: StageMove, who: Principal) -> Opportunity:
        opportunity = await self.get(opportunity_id, who, for_update=True)
        stage = await self.pipelines.get_stage(move.stage_id)
        if stage is None or stage.pipeline_id != opportunity.pipeline_id:
            raise ValidationFailed({"stage_id": "not a stage of the opportunity's pipeline"})
        if stage.kind == "lost" and not (move.lost_reason or "").strip():
            raise ValidationFailed({"lost_reason": "a lost opportunity needs a lost reason"})
        if stage.id == opportunity.stage_id:
            return opportunity
        now = utcnow()
        from_stage = opportunity.stage_id
        seconds = max(0, int((now - opportunity.stage_entered_at).total_seconds()))
        await self.repo.add_history(
            StageHistory(
                id=new_id(),
                opportunity_id=opportunity.id,
                from_stage_id=from_stage,
                to_stage_id=stage.id,
                changed_by=who.subject,
                changed_at=now,
                seconds_in_from_stage=seconds,
                reason=move.reason.strip(),
            )
        )
        opportunity.stage_id = stage.id
        opportunity.stage_entered_at = now
        opportunity.probability = stage.probability
        opportunity.forecast_category = stage.forecast_category
        opportunity.status = stage.kind
        opportunity.closed_at = now if stage.kind != "open" else None
        if stage.kind != "open" and opportunity.expected_close_date is None:
            opportunity.expected_close_date = now.date()  # closed deals count in the month they closed
        opportunity.lost_reason = (move.lost_reason or "").strip() if stage.kind == "lost" else ""
        if stage.kind != "lost":
            opportunity.furthest_position = max(opportunity.furthest_position, stage.position)
        opportunity.snoozed_until = None
        opportunity.stalled_alerted_at = None
        opportunity.updated_at = now
        await self.session.flush()
        await self._emit(
            events.OPPORTUNITY_STAGE_CHANGED,
            events.stage_changed(opportunity, str(from_stage), seconds, who.subject),
            opportunity,
        )
        return opportunity

    async def history(self, opportunity_id: uuid.UUID, who: Principal) -> list[StageHistory]:
        await self.get(opportunity_id, who)
        return await self.repo.history(opportunity_id)

    async def snooze(self, opportunity_id: uuid.UUID, data: SnoozeIn, who: Principal) -> Snooze:
        opportunity = await self.get(opportunity_id, who, for_update=True)
        today = utcnow().date()
        if data.until <= today:
            raise ValidationFailed({"until": "must be after today"})
        if data.until > today + dt.timedelta(days=MAX_SNOOZE_DAYS):
            raise ValidationFailed({"until": f"at most {MAX_SNOOZE_DAYS} days ahead"})
        if opportunity.status != "open":
            raise ValidationFailed({"until": "only open opportunities are snoozed"})
        opportunity.snoozed_until = data.until
        opportunity.stalled_alerted_at = None  # alert again once the snooze is over
        row = Snooze(
            id=new_id(),
            opportunity_id=opportunity.id,
            until=data.until,
            reason=data.reason.strip(),
            snoozed_by=who.subject,
            stage_id=opportunity.stage_id,
            created_at=utcnow(),
        )
        await self.repo.add_snooze(row)
        return row

    async def snoozes(self, opportunity_id: uuid.UUID, who: Principal) -> list[Snooze]:
        await self.get(opportunity_id, who)
        return await self.repo.snoozes(opportunity_id)

    # --- activities ------------------------------------------------------------------------------------
    async def add_activity(
        self, opportunity_id: uuid.UUID, data: ActivityCreate, who: Principal
    ) -> DealActivity:
        opportunity = await self.get(opportunity_id, who)
        owner = data.owner_id or opportunity.owner_id or who.subject
        if data.owner_id and data.owner_id != who.subject and not (who.is_admin or who.is_manager):
            raise Forbidden("reps plan activities for themselves")
        activity = DealActivity(
            id=new_id(),
            opportunity_id=opportunity.id,
            contact_id=opportunity.contact_id,
            organization_id=opportunity.organization_id,
            kind=data.kind,
            subject=data.subject.strip(),
            body=data.body,
            owner_id=owner,
            due_at=data.due_at,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            done_at=utcnow() if data.kind in ("note", "call", "email") else None,
            created_by=who.subject,
        )
        return await self.repo.add_activity(activity)

    async def activities(
        self, opportunity_id: uuid.UUID, who: Principal, limit: int = 100
    ) -> list[DealActivity]:
        await self.get(opportunity_id, who)
        return await self.repo.activities(opportunity_id, limit)

    async def complete_activity(self, activity_id: uuid.UUID, who: Principal) -> DealActivity:
        activity = await self.repo.get_activity(activity_id)
        if activity is None or activity.opportunity_id is None:
            raise ActivityNotFound(f"activity {activity_id} does not exist")
        await self.get(activity.opportunity_id, who)  # visibility through the opportunity
        if activity.kind not in ("task", "event"):
            raise ActivityNotCompletable(f"a {activity.kind} is not completed")
        if activity.done_at is None:
            activity.done_at = utcnow()
            await self.session.flush()
        return activity

    # --- the stalled job -------------------------------------------------------------------------------
    async def alert_stalled(self, now: dt.datetime | None = None, limit: int = 500) -> int:
        """Emit crm.deals.opportunity.stalled once per stage stint (and again after a snooze ends)."""
        now = now or utcnow()
        claimed = await self.repo.claim_stalled(now, limit)
        for opportunity, stage in claimed:
            days = (now - opportunity.stage_entered_at).days
            opportunity.stalled_alerted_at = now
            await self._emit(
                events.OPPORTUNITY_STALLED, events.stalled(opportunity, stage, days), opportunity
            )
        await self.session.flush()
        return len(claimed)
