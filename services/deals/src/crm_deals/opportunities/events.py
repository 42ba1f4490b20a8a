"""Subjects and builders for opportunity events, and proto conversions."""

from __future__ import annotations

from crm.common.v1 import money_pb2
from crm.deals.v1 import deals_pb2, events_pb2

from crm_deals.opportunities.models import Opportunity
from crm_deals.pipelines.models import Stage

OPPORTUNITY_CREATED = "crm.deals.opportunity.created"
OPPORTUNITY_STAGE_CHANGED = "crm.deals.opportunity.stage_changed"
OPPORTUNITY_STALLED = "crm.deals.opportunity.stalled"


def opportunity_to_proto(o: Opportunity) -> deals_pb2.Opportunity:
    msg = deals_pb2.Opportunity(
        id=str(o.id),
        name=o.name,
        organization_id=str(o.organization_id or ""),
        contact_id=str(o.contact_id or ""),
        amount=money_pb2.Money(currency_code=o.currency, amount=f"{o.amount:.2f}"),
        stage_id=str(o.stage_id),
        probability=o.probability,
        owner_id=o.owner_id or "",
        pipeline_id=str(o.pipeline_id),
        status=o.status,
        forecast_category=o.forecast_category,
        expected_close_date=o.expected_close_date.isoformat() if o.expected_close_date else "",
        source=o.source,
        campaign=o.campaign,
        lost_reason=o.lost_reason,
        next_step=o.next_step,
        team=o.team,
        lead_id=str(o.lead_id or ""),
    )
    msg.stage_entered_at.FromDatetime(o.stage_entered_at)
    if o.created_at is not None:
        msg.created_at.FromDatetime(o.created_at)
    return msg


def opportunity_created(o: Opportunity) -> events_pb2.OpportunityCreated:
    return events_pb2.OpportunityCreated(opportunity=opportunity_to_proto(o))


def stage_changed(
    o: Opportunity, from_stage_id: str, seconds: int, changed_by: str
) -> events_pb2.OpportunityStageChanged:
    return events_pb2.OpportunityStageChanged(
        opportunity=opportunity_to_proto(o),
        from_stage_id=from_stage_id,
        to_stage_id=str(o.stage_id),
        seconds_in_from_stage=seconds,
        changed_by=changed_by,
    )


def stalled(o: Opportunity, stage: Stage, days: int) -> events_pb2.OpportunityStalled:
    return events_pb2.OpportunityStalled(
        opportunity_id=str(o.id),
        owner_id=o.owner_id or "",
        stage_id=str(o.stage_id),
        days_in_stage=days,
        opportunity_name=o.name,
        stage_name=stage.name,
        max_days_in_stage=stage.max_days_in_stage,
        team=o.team,
    )
