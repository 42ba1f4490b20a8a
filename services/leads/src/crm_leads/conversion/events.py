"""Subject and builder of crm.leads.lead.converted, and the proto conversions of lead conversion (the
lead snapshot and activities sent to deals, the plan and result it answers)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from crm.common.v1 import money_pb2
from crm.deals.v1 import deals_pb2
from crm.leads.v1 import events_pb2, leads_pb2
from crm_platform.contact_points import phones_to_proto

from crm_leads.activities.models import Activity
from crm_leads.conversion.models import LeadConversion
from crm_leads.conversion.schemas import (
    CandidateOut,
    ConversionOptions,
    ConversionOut,
    OpportunityPlanOut,
    PreviewOut,
    RecordPlanOut,
)
from crm_leads.leads.models import Lead

LEAD_CONVERTED = "crm.leads.lead.converted"
ACTIONS = {
    deals_pb2.CONVERSION_ACTION_CREATE: "create",
    deals_pb2.CONVERSION_ACTION_REUSE: "reuse",
    deals_pb2.CONVERSION_ACTION_SKIP: "skip",
}


def lead_snapshot(lead: Lead) -> deals_pb2.LeadSnapshot:
    return deals_pb2.LeadSnapshot(
        lead_id=str(lead.id),
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=lead.company,
        title=lead.title,
        emails=list(lead.emails),
        phones=phones_to_proto(lead.phones),
        website=lead.website,
        address=deals_pb2.Address(
            street=lead.street,
            city=lead.city,
            region=lead.region,
            postal_code=lead.postal_code,
            country=lead.country,
        ),
        industry=lead.industry,
        source=lead.source,
        campaign=lead.campaign,
        owner_id=lead.owner_id or "",
        team=lead.team,
        description=lead.description,
    )


def _ts(msg: Any, field: str, value: dt.datetime | None) -> None:
    if value is not None:
        getattr(msg, field).FromDatetime(value)


def activity_to_proto(a: Activity) -> deals_pb2.LeadActivity:
    body = a.body
    if a.kind == "call":
        facts = ", ".join(
            x
            for x in (
                a.call_direction,
                a.call_outcome,
                f"{a.duration_seconds} s" if a.duration_seconds is not None else "",
            )
            if x
        )
        body = f"[call: {facts}]\n{body}" if facts else body
    msg = deals_pb2.LeadActivity(
        id=str(a.id),
        kind=a.kind,
        subject=a.subject,
        body=body,
        owner_id=a.owner_id or "",
        created_by=a.created_by,
    )
    for name in ("due_at", "done_at", "starts_at", "ends_at", "created_at"):
        _ts(msg, name, getattr(a, name))
    return msg


def options_to_proto(options: dict[str, Any]) -> deals_pb2.ConversionOptions:
    o = ConversionOptions.model_validate(options)
    msg = deals_pb2.ConversionOptions(
        organization_id=str(o.organization_id or ""),
        contact_id=str(o.contact_id or ""),
        skip_organization=o.skip_organization,
        opportunity_name=o.opportunity_name,
        expected_close_date=o.expected_close_date.isoformat() if o.expected_close_date else "",
        pipeline_id=str(o.pipeline_id or ""),
        stage_id=str(o.stage_id or ""),
        next_step=o.next_step,
    )
    if o.amount is not None or o.currency:
        msg.amount.CopyFrom(
            money_pb2.Money(
                currency_code=o.currency or "", amount="" if o.amount is None else f"{o.amount:.2f}"
            )
        )
    return msg


def _uuid(value: str) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _plan(msg: deals_pb2.RecordPlan) -> RecordPlanOut:
    return RecordPlanOut(
        action=ACTIONS.get(msg.action, "skip"),  # type: ignore[arg-type]
        id=_uuid(msg.id),
        name=msg.name,
        matched_on=list(msg.matched_on),
        filled_fields=list(msg.filled_fields),
        candidates=[
            CandidateOut(id=uuid.UUID(c.id), name=c.name, matched_on=list(c.matched_on))
            for c in msg.candidates
        ],
    )


def preview_from_proto(msg: deals_pb2.PreviewLeadConversionResponse) -> PreviewOut:
    o = msg.opportunity
    return PreviewOut(
        organization=_plan(msg.organization),
        contact=_plan(msg.contact),
        opportunity=OpportunityPlanOut(
            name=o.name,
            pipeline_id=uuid.UUID(o.pipeline_id),
            stage_id=uuid.UUID(o.stage_id),
            stage_name=o.stage_name,
            probability=o.probability,
            amount=Decimal(o.amount.amount or "0"),
            currency=o.amount.currency_code,
            expected_close_date=dt.date.fromisoformat(o.expected_close_date)
            if o.expected_close_date
            else None,
            owner_id=o.owner_id or None,
        ),
        activities_to_move=msg.activities_to_move,
    )


def preview_to_proto(preview: PreviewOut) -> leads_pb2.PreviewLeadConversionResponse:
    names = {v: k for k, v in ACTIONS.items()}

    def plan(p: RecordPlanOut) -> deals_pb2.RecordPlan:
        return deals_pb2.RecordPlan(
            action=names[p.action],
            id=str(p.id or ""),
            name=p.name,
            matched_on=p.matched_on,
            filled_fields=p.filled_fields,
            candidates=[
                deals_pb2.MatchCandidate(id=str(c.id), name=c.name, matched_on=c.matched_on)
                for c in p.candidates
            ],
        )

    o = preview.opportunity
    return leads_pb2.PreviewLeadConversionResponse(
        organization=plan(preview.organization),
        contact=plan(preview.contact),
        opportunity=deals_pb2.OpportunityPlan(
            name=o.name,
            pipeline_id=str(o.pipeline_id),
            stage_id=str(o.stage_id),
            stage_name=o.stage_name,
            probability=o.probability,
            amount=money_pb2.Money(currency_code=o.currency, amount=f"{o.amount:.2f}"),
            expected_close_date=o.expected_close_date.isoformat() if o.expected_close_date else "",
            owner_id=o.owner_id or "",
        ),
        activities_to_move=preview.activities_to_move,
    )


def conversion_out(c: LeadConversion, moved: list[uuid.UUID]) -> ConversionOut:
    return ConversionOut(
        id=c.id,
        lead_id=c.lead_id,
        state=c.state,  # type: ignore[arg-type]
        attempts=c.attempts,
        failure_reason=c.failure_reason,
        requested_by=c.requested_by,
        organization_id=c.organization_id,
        contact_id=c.contact_id,
        opportunity_id=c.opportunity_id,
        organization_created=c.organization_created,
        contact_created=c.contact_created,
        moved_activity_ids=moved,
        completed_at=c.completed_at,
        created_at=c.created_at,
    )


def conversion_to_proto(c: ConversionOut) -> leads_pb2.LeadConversion:
    msg = leads_pb2.LeadConversion(
        id=str(c.id),
        lead_id=str(c.lead_id),
        state=c.state,
        organization_id=str(c.organization_id or ""),
        contact_id=str(c.contact_id or ""),
        opportunity_id=str(c.opportunity_id or ""),
        organization_created=c.organization_created,
        contact_created=c.contact_created,
        activities_moved=len(c.moved_activity_ids),
        failure_reason=c.failure_reason,
        converted_by=c.requested_by,
    )
    _ts(msg, "completed_at", c.completed_at)
    return msg


def lead_converted(
    lead: Lead, c: LeadConversion, moved: list[uuid.UUID], actor: str
) -> events_pb2.LeadConverted:
    return events_pb2.LeadConverted(
        lead_id=str(lead.id),
        conversion_id=str(c.id),
        organization_id=str(c.organization_id or ""),
        contact_id=str(c.contact_id or ""),
        opportunity_id=str(c.opportunity_id or ""),
        organization_created=c.organization_created,
        contact_created=c.contact_created,
        owner_id=lead.owner_id or "",
        converted_by=actor,
        moved_activity_ids=[str(m) for m in moved],
    )
