"""Proto conversions of lead conversion (deals publishes no conversion event of its own: the records it
creates publish theirs, and leads publishes crm.leads.lead.converted)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation

from crm.common.v1 import money_pb2
from crm.deals.v1 import deals_pb2
from crm_platform.contact_points import phones_from_proto
from crm_platform.errors import ValidationFailed
from google.protobuf.timestamp_pb2 import Timestamp

from crm_deals.conversion.schemas import ActivityIn, LeadIn, OptionsIn, Plan, RecordPlan, Result
from crm_deals.fields import currency_code
from crm_deals.organizations.events import display_name
from crm_deals.organizations.models import Organization

ACTIONS = {
    "create": deals_pb2.CONVERSION_ACTION_CREATE,
    "reuse": deals_pb2.CONVERSION_ACTION_REUSE,
    "skip": deals_pb2.CONVERSION_ACTION_SKIP,
}


def _id(value: str, field: str, errors: dict[str, str]) -> uuid.UUID | None:
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        errors[field] = "must be a UUID"
        return None


def _time(ts: Timestamp, has: bool) -> dt.datetime | None:
    return ts.ToDatetime(tzinfo=dt.UTC) if has else None


def lead_from_proto(msg: deals_pb2.LeadSnapshot) -> LeadIn:
    errors: dict[str, str] = {}
    lead_id = _id(msg.lead_id, "lead.lead_id", errors)
    if lead_id is None and "lead.lead_id" not in errors:
        errors["lead.lead_id"] = "is required"
    if errors:
        raise ValidationFailed(errors)
    assert lead_id is not None
    return LeadIn(
        lead_id=lead_id,
        first_name=msg.first_name,
        last_name=msg.last_name,
        company=msg.company,
        title=msg.title,
        emails=list(msg.emails),
        phones=phones_from_proto(msg.phones),
        website=msg.website,
        street=msg.address.street,
        city=msg.address.city,
        region=msg.address.region,
        postal_code=msg.address.postal_code,
        country=msg.address.country,
        industry=msg.industry,
        source=msg.source,
        campaign=msg.campaign,
        owner_id=msg.owner_id,
        team=msg.team,
        description=msg.description,
    )


def activities_from_proto(items: list[deals_pb2.LeadActivity]) -> list[ActivityIn]:
    errors: dict[str, str] = {}
    out: list[ActivityIn] = []
    for i, a in enumerate(items):
        ident = _id(a.id, f"activities.{i}.id", errors)
        if ident is None:
            errors.setdefault(f"activities.{i}.id", "is required")
            continue
        out.append(
            ActivityIn(
                id=ident,
                kind=a.kind,
                subject=a.subject,
                body=a.body,
                owner_id=a.owner_id,
                due_at=_time(a.due_at, a.HasField("due_at")),
                done_at=_time(a.done_at, a.HasField("done_at")),
                starts_at=_time(a.starts_at, a.HasField("starts_at")),
                ends_at=_time(a.ends_at, a.HasField("ends_at")),
                created_at=_time(a.created_at, a.HasField("created_at")),
                created_by=a.created_by,
            )
        )
    if errors:
        raise ValidationFailed(errors)
    return out


def options_from_proto(msg: deals_pb2.ConversionOptions) -> OptionsIn:
    errors: dict[str, str] = {}
    options = OptionsIn(
        organization_id=_id(msg.organization_id, "options.organization_id", errors),
        contact_id=_id(msg.contact_id, "options.contact_id", errors),
        skip_organization=msg.skip_organization,
        opportunity_name=msg.opportunity_name,
        pipeline_id=_id(msg.pipeline_id, "options.pipeline_id", errors),
        stage_id=_id(msg.stage_id, "options.stage_id", errors),
        next_step=msg.next_step,
    )
    if msg.HasField("amount") and (msg.amount.amount or msg.amount.currency_code):
        try:
            amount = Decimal(msg.amount.amount or "0")
            if not amount.is_finite() or amount < 0 or amount != round(amount, 2) or amount > Decimal("1e14"):
                raise InvalidOperation
            options.amount = amount
        except InvalidOperation:
            errors["options.amount.amount"] = "must be a non-negative decimal with at most 2 places"
        if msg.amount.currency_code:
            try:
                options.currency = currency_code(msg.amount.currency_code)
            except ValueError as exc:
                errors["options.amount.currency_code"] = str(exc)
    if msg.expected_close_date:
        try:
            options.expected_close_date = dt.date.fromisoformat(msg.expected_close_date)
        except ValueError:
            errors["options.expected_close_date"] = "must be a date, YYYY-MM-DD"
    if len(options.opportunity_name) > 300:
        errors["options.opportunity_name"] = "at most 300 characters"
    if errors:
        raise ValidationFailed(errors)
    return options


def _record_plan(plan: RecordPlan) -> deals_pb2.RecordPlan:
    record = plan.record
    name = ""
    if record is not None:
        name = record.name if isinstance(record, Organization) else display_name(record)
    return deals_pb2.RecordPlan(
        action=ACTIONS[plan.action],
        id=str(record.id) if record is not None else "",
        name=name,
        matched_on=plan.matched_on,
        filled_fields=plan.filled_fields,
        candidates=[
            deals_pb2.MatchCandidate(id=str(c.id), name=c.name, matched_on=c.matched_on)
            for c in plan.candidates
        ],
    )


def plan_to_proto(plan: Plan, activity_count: int) -> deals_pb2.PreviewLeadConversionResponse:
    return deals_pb2.PreviewLeadConversionResponse(
        organization=_record_plan(plan.organization),
        contact=_record_plan(plan.contact),
        opportunity=deals_pb2.OpportunityPlan(
            name=plan.opportunity_name,
            pipeline_id=str(plan.pipeline.id),
            stage_id=str(plan.stage.id),
            stage_name=plan.stage.name,
            probability=plan.stage.probability,
            amount=money_pb2.Money(currency_code=plan.currency, amount=f"{plan.amount:.2f}"),
            expected_close_date=plan.expected_close_date.isoformat() if plan.expected_close_date else "",
            owner_id=plan.owner_id or "",
        ),
        activities_to_move=activity_count,
    )


def result_to_proto(result: Result) -> deals_pb2.ConversionResult:
    return deals_pb2.ConversionResult(
        conversion_id=str(result.conversion_id),
        lead_id=str(result.lead_id),
        organization_id=str(result.organization_id or ""),
        contact_id=str(result.contact_id or ""),
        opportunity_id=str(result.opportunity_id or ""),
        organization_created=result.organization_created,
        contact_created=result.contact_created,
        moved_activities=[
            deals_pb2.MovedActivity(lead_activity_id=m["lead_activity_id"], activity_id=m["activity_id"])
            for m in result.moved_activities
        ],
    )
