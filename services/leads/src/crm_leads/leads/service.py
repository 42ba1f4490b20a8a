"""Lead business logic: normalise, validate, detect duplicates, store with an audit trail, emit events,
run assignment; update, status changes, merge. Flushes, never commits."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from crm.leads.v1 import events_pb2
from crm_platform import observability as obs
from crm_platform.auth import Principal
from crm_platform.config_cache import config_cache
from crm_platform.contact_points import company_key, normalise_email, normalise_phone
from crm_platform.db import coalesced_inserts, new_object, utcnow
from crm_platform.errors import Conflict, ValidationFailed
from crm_platform.ids import new_id
from crm_platform.outbox import add_event, add_events, trace_events_of
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.db import tables
from crm_leads.leads import events
from crm_leads.leads.exceptions import LeadNotFound
from crm_leads.leads.models import (
    CLOSED_STATUSES,
    FLAG_FIELDS,
    NUMBER_FIELDS,
    TEXT_FIELDS,
    CustomFieldDef,
    Lead,
    LeadAudit,
    LeadDuplicate,
)
from crm_leads.leads.repository import LeadRepository
from crm_leads.leads.schemas import CustomFieldDefIn, LeadCreate, LeadFields, LeadUpdate, PhoneIn

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime

SCORED_FIELDS = ("first_name", "last_name", "company", "title", "emails", "phones", "source", "description")
PLAIN_FIELDS = (*TEXT_FIELDS, *NUMBER_FIELDS, *FLAG_FIELDS, "qualified")
MERGE_FIELDS = tuple(
    f for f in PLAIN_FIELDS if f not in ("do_not_email", "do_not_call", "do_not_fax", "qualified")
)


def completeness_score(lead: Lead | Mapping[str, Any]) -> int:
    """0..100: share of the key fields that are filled in (of a lead, or of its column values). A pure
    function of the lead's own fields, so it is computed wherever they are written (create, update,
    merge) and every answer and event carries the current score."""
    if isinstance(lead, Mapping):
        filled = sum(1 for f in SCORED_FIELDS if lead.get(f))
    else:
        filled = sum(1 for f in SCORED_FIELDS if getattr(lead, f))
    return round(100 * filled / len(SCORED_FIELDS))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode_cursor(lead: Lead) -> str:
    return base64.urlsafe_b64encode(f"{lead.created_at.isoformat()}|{lead.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        at, lead_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return dt.datetime.fromisoformat(at), uuid.UUID(lead_id)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed({"cursor": "not a cursor returned by this API"}) from None


def check_custom_fields(
    values: dict[str, Any], defs: Sequence[CustomFieldDef], prefix: str, *, require: bool
) -> dict[str, str]:
    errors: dict[str, str] = {}
    by_key = {d.key: d for d in defs}
    for key, value in values.items():
        d = by_key.get(key)
        where = f"{prefix}custom_fields.{key}"
        if d is None:
            errors[where] = "unknown custom field"
        elif value is None:
            continue
        elif d.type == "text" and not isinstance(value, str):
            errors[where] = "must be text"
        elif d.type == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            errors[where] = "must be a number"
        elif d.type == "boolean" and not isinstance(value, bool):
            errors[where] = "must be true or false"
        elif d.type == "choice" and value not in d.choices:
            errors[where] = f"must be one of {', '.join(d.choices)}"
        elif d.type == "date":
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                errors[where] = "must be a date (YYYY-MM-DD)"
    if require:
        for d in defs:
            if d.required and values.get(d.key) in (None, ""):
                errors[f"{prefix}custom_fields.{d.key}"] = "is required"
    return errors


class LeadService:
    def __init__(
        self,
        session: AsyncSession,
        default_region: str = "IR",
        *,
        followup_minutes: int = 60,
        serious_prospect_closed_tasks: int = 2,
    ) -> None:
        self.session = session
        self.repo = LeadRepository(session)
        self.default_region = default_region
        self.followup_minutes = followup_minutes
        self.serious_after = serious_prospect_closed_tasks
        self._defs: list[CustomFieldDef] | None = None

    @classmethod
    def of(cls, session: AsyncSession, settings: Any) -> LeadService:
        """The service with the process's settings (``LeadsSettings``)."""
        return cls(
            session,
            settings.default_phone_region,
            followup_minutes=settings.first_followup_minutes,
            serious_prospect_closed_tasks=settings.serious_prospect_closed_tasks,
        )

    async def _custom_defs(self) -> list[CustomFieldDef]:
        if self._defs is None:
            self._defs = await config_cache.get(
                self.session, "leads.custom_field_defs", self.repo.custom_field_defs
            )
        return self._defs

    # --- normalisation -----------------------------------------------------------------------------
    @staticmethod
    def _contacts(
        emails: Sequence[str], phones: Sequence[PhoneIn], region: str, prefix: str, errors: dict[str, str]
    ) -> tuple[list[str], list[dict[str, str]]]:
        out_emails: list[str] = []
        for i, raw in enumerate(emails):
            try:
                email = normalise_email(raw)
            except ValueError as exc:
                errors[f"{prefix}emails.{i}"] = str(exc)
                continue
            if email not in out_emails:
                out_emails.append(email)
        out_phones: list[dict[str, str]] = []
        for i, phone in enumerate(phones):
            try:
                e164 = normalise_phone(phone.number, region)
            except ValueError as exc:
                errors[f"{prefix}phones.{i}.number"] = str(exc)
                continue
            if all(p["e164"] != e164 for p in out_phones):
                out_phones.append({"e164": e164, "kind": phone.kind})
        return out_emails, out_phones

    def _values(self, data: LeadFields, region: str, prefix: str) -> tuple[dict[str, Any], dict[str, str]]:
        errors: dict[str, str] = {}
        emails, phones = self._contacts(data.emails, data.phones, region, prefix, errors)
        values: dict[str, Any] = {f: getattr(data, f) for f in PLAIN_FIELDS if f in LeadFields.model_fields}
        for key in (
            "first_name",
            "last_name",
            "company",
            "title",
            "city",
            "region",
            "industry",
            "source",
            "campaign",
        ):
            values[key] = values[key].strip()
        country = data.country.strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            errors[f"{prefix}country"] = "must be an ISO 3166-1 alpha-2 code"
        values.update(
            country=country,
            emails=emails,
            phones=phones,
            phone_numbers=[p["e164"] for p in phones],
            company_key=company_key(data.company),
            custom_fields=dict(data.custom_fields),
        )
        if not (values["first_name"] or values["last_name"] or values["company"] or emails or phones):
            errors[f"{prefix}name"] = "a lead needs a name, a company, an e-mail or a phone"
        return values, errors

    async def validate(self, data: LeadCreate, region: str | None = None, prefix: str = "") -> dict[str, str]:
        """Field errors of one lead without storing anything (empty = valid)."""
        _, errors = self._values(data, (data.default_region or region or self.default_region).upper(), prefix)
        errors.update(
            check_custom_fields(data.custom_fields, await self._custom_defs(), prefix, require=True)
        )
        return errors

    # --- create ------------------------------------------------------------------------------------
    async def create(self, data: LeadCreate, who: Principal, **kw: Any) -> Lead:
        return (await self.create_many([data], who, **kw))[0]

    @staticmethod
    async def create_grouped(runtime: Runtime, data: LeadCreate, who: Principal) -> Lead:
        """One authenticated single create (REST/gRPC), in its own transaction when the service is
        quiet and sharing one with the single creates in flight at the same moment under load
        (crm_platform.batching): same checks, events, assignment and answer as :meth:`create`."""

        async def run(
            key: Principal, items: Sequence[tuple[LeadCreate, str]]
        ) -> list[Lead | ValidationFailed]:
            async with runtime.unit_of_work() as session:
                service = LeadService.of(session, runtime.settings)
                return await service.create_each([data for data, _ in items], key, [t for _, t in items])

        # one batch at a time per process: under load the next batch is as large as the requests that
        # arrived meanwhile; with two in flight each batch was half as large, for the same CPU per batch
        # (bench/README.md, round 5)
        committer = runtime.group_commit("create-lead", run, concurrency=1)
        # the batch runs in another task: each request's trace goes with its item (its lead's events)
        lead: Lead = await committer.submit(who, (data, obs.current_traceparent()))
        return lead

    async def create_many(
        self,
        items: Sequence[LeadCreate],
        who: Principal,
        *,
        channel: str = "api",
        source_id: uuid.UUID | None = None,
        source_name: str | None = None,
        campaign: str | None = None,
        default_region: str | None = None,
        assign: bool = True,
    ) -> list[Lead]:
        """Store leads (all or none), link duplicates, emit events, assign and create follow-ups."""
        many = len(items) > 1
        built, item_errors = await self._prepare(items, default_region, prefixed=many)
        errors = {k: v for errs in item_errors for k, v in errs.items()}
        if errors:
            raise ValidationFailed(errors)
        return await self._store(
            built,
            who,
            channel=channel,
            source_id=source_id,
            source_name=source_name,
            campaign=campaign,
            assign=assign,
        )

    async def create_each(
        self, items: Sequence[LeadCreate], who: Principal, traces: Sequence[str] = (), **kw: Any
    ) -> list[Lead | ValidationFailed]:
        """Store the valid ones of independent single creates in one transaction (group commit); an
        invalid item gets its own ValidationFailed (field names without a batch prefix). ``traces``:
        each item's caller's traceparent, which its lead's events continue."""
        built, item_errors = await self._prepare(items, kw.pop("default_region", None), prefixed=False)
        valid = [values for values, errors in zip(built, item_errors, strict=True) if not errors]
        if traces:
            for values, errors, trace in zip(built, item_errors, traces, strict=True):
                if not errors:
                    values["id"] = new_id()
                    trace_events_of(self.session, {str(values["id"]): trace})
        stored = iter(await self._store(valid, who, **kw))
        return [ValidationFailed(e) if e else next(stored) for e in item_errors]

    async def _prepare(
        self, items: Sequence[LeadCreate], default_region: str | None, *, prefixed: bool
    ) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
        """Normalised column values and field errors of each item."""
        defs = await self._custom_defs()
        built: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for i, data in enumerate(items):
            prefix = f"leads.{i}." if prefixed else ""
            region = (data.default_region or default_region or self.default_region).upper()
            values, errs = self._values(data, region, prefix)
            errs.update(check_custom_fields(data.custom_fields, defs, prefix, require=True))
            built.append(values)
            errors.append(errs)
        return built, errors

    async def _store(
        self,
        built: list[dict[str, Any]],
        who: Principal,
        *,
        channel: str = "api",
        source_id: uuid.UUID | None = None,
        source_name: str | None = None,
        campaign: str | None = None,
        assign: bool = True,
    ) -> list[Lead]:
        if not built:
            return []
        async with coalesced_inserts(self.session):  # every row of the create in one statement
            return await self._write(built, who, channel, source_id, source_name, campaign, assign)

    async def _write(
        self,
        built: list[dict[str, Any]],
        who: Principal,
        channel: str,
        source_id: uuid.UUID | None,
        source_name: str | None,
        campaign: str | None,
        assign: bool,
    ) -> list[Lead]:
        now = utcnow()
        is_rep = not who.is_admin and not who.is_manager
        leads = []
        for values in built:
            if source_name and not values["source"]:
                values["source"] = source_name
            if campaign and not values["campaign"]:
                values["campaign"] = campaign
            leads.append(
                new_object(
                    Lead,
                    id=values.pop("id", None) or new_id(),  # given when its trace was noted first
                    **values,
                    score=completeness_score(values),
                    status="new",
                    status_changed_at=now,
                    intake_channel=channel,
                    source_id=source_id,
                    owner_id=who.subject if is_rep else None,
                    assigned_at=now if is_rep else None,
                    team=who.team if not who.is_service else "",
                    created_at=now,
                    updated_at=now,
                )
            )
        # the lead rows are written in their final state (owner, status), so a new lead is never
        # UPDATEd: they and every row pointing at them (duplicate links, audits, decisions, follow-ups)
        # and the events are collected and go out at the end as one statement (coalesced_inserts)
        matches = await self.repo.find_matches_bulk(leads)
        await self.repo.link_duplicates(matches, new=True)
        await self.repo.add_audits(
            [
                {
                    "lead_id": lead.id,
                    "actor": who.subject,
                    "action": "created",
                    "changes": {"channel": channel, "duplicates": sorted(str(m) for m in matches[lead.id])},
                }
                for lead in leads
            ]
        )
        await add_events(
            self.session,
            tables,
            [(events.LEAD_CREATED, events.lead_created(lead), str(lead.id)) for lead in leads],
            producer="leads",
        )
        if assign:
            from crm_leads.activities.service import ActivityService
            from crm_leads.assignment.service import AssignmentService

            owned = [(lead, lead.owner_id, self.followup_minutes) for lead in leads if lead.owner_id]
            if owned:
                await ActivityService(self.session).create_first_followups(owned, actor=who.subject)
            waiting = [lead for lead in leads if lead.owner_id is None]
            if waiting:
                await AssignmentService(self.session, self.followup_minutes).assign_many(
                    waiting, who.subject, answer=False
                )
        await self.repo.insert_new(leads)
        await self.session.flush()
        return leads

    # --- read ----------------------------------------------------------------------------------------
    async def get(self, lead_id: uuid.UUID, who: Principal, *, for_update: bool = False) -> Lead:
        lead = await self.repo.get(lead_id, for_update=for_update)
        if lead is None or not who.can_see(lead.owner_id, lead.team):
            raise LeadNotFound(f"lead {lead_id} does not exist or is not yours")
        return lead

    async def search(
        self,
        who: Principal,
        *,
        status: str | None = None,
        owner_id: str | None = None,
        q: str | None = None,
        include_closed: bool = False,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[Lead], str | None]:
        after = decode_cursor(cursor) if cursor else None
        leads = await self.repo.search(
            who,
            status=status,
            owner_id=owner_id,
            q=q,
            include_closed=include_closed,
            after=after,
            limit=limit + 1,
        )
        more = len(leads) > limit
        leads = leads[:limit]
        return leads, (encode_cursor(leads[-1]) if more and leads else None)

    async def duplicates(self, lead_id: uuid.UUID, who: Principal) -> list[LeadDuplicate]:
        await self.get(lead_id, who)
        return await self.repo.duplicates_of(lead_id)

    async def audit(self, lead_id: uuid.UUID, who: Principal) -> list[LeadAudit]:
        await self.get(lead_id, who)
        return await self.repo.audit_trail(lead_id)

    # --- change ----------------------------------------------------------------------------------------
    async def update(self, lead_id: uuid.UUID, patch: LeadUpdate, who: Principal) -> Lead:
        lead = await self.get(lead_id, who, for_update=True)
        if lead.status in ("merged", "converted"):
            raise Conflict(f"a {lead.status} lead cannot be changed", type_slug="lead-closed")
        sent = patch.model_dump(exclude_unset=True)
        region = (sent.pop("default_region", None) or self.default_region).upper()
        errors: dict[str, str] = {}
        changes: dict[str, list[Any]] = {}
        new: dict[str, Any] = {}
        if "emails" in sent or "phones" in sent:
            emails, phones = self._contacts(
                patch.emails if patch.emails is not None else [],
                patch.phones if patch.phones is not None else [],
                region,
                "",
                errors,
            )
            if "emails" in sent:
                new["emails"] = emails
            if "phones" in sent:
                new["phones"] = phones
                new["phone_numbers"] = [p["e164"] for p in phones]
        for key in PLAIN_FIELDS:
            if key in sent:
                value = sent[key]
                if value is None and key not in ("annual_revenue", "employee_count"):
                    errors[key] = "may not be null"
                    continue
                new[key] = value.strip() if isinstance(value, str) and key != "description" else value
        if "country" in new:
            new["country"] = new["country"].upper()
            if new["country"] and (len(new["country"]) != 2 or not new["country"].isalpha()):
                errors["country"] = "must be an ISO 3166-1 alpha-2 code"
        if "company" in new:
            new["company_key"] = company_key(new["company"])
        if "custom_fields" in sent:
            merged = {**lead.custom_fields, **(patch.custom_fields or {})}
            merged = {k: v for k, v in merged.items() if v is not None}
            errors.update(check_custom_fields(merged, await self._custom_defs(), "", require=True))
            new["custom_fields"] = merged
        if errors:
            raise ValidationFailed(errors)
        for key, value in new.items():
            old = getattr(lead, key)
            if old != value:
                changes[key] = [_jsonable(old), _jsonable(value)]
                setattr(lead, key, value)
        if not changes:
            return lead
        lead.updated_at = utcnow()
        lead.score = completeness_score(lead)
        await self.repo.add_audit(lead.id, who.subject, "updated", changes)
        await add_event(
            self.session,
            tables,
            events.LEAD_UPDATED,
            events_pb2.LeadUpdated(lead=events.lead_to_proto(lead), changed_fields=sorted(changes)),
            producer="leads",
            aggregate_id=str(lead.id),
        )
        if "qualified" in changes:
            from crm_leads.activities.service import ActivityService
            from crm_leads.automation.service import StatusService

            closed = await ActivityService(self.session).closed_task_count(lead.id)
            await StatusService(self.session, self.serious_after).maybe_serious(lead, who.subject, closed)
        await self.session.flush()
        return lead

    async def change_status(self, lead_id: uuid.UUID, status: str, who: Principal, reason: str = "") -> Lead:
        from crm_leads.automation.service import StatusService

        lead = await self.get(lead_id, who, for_update=True)
        await StatusService(self.session, self.serious_after).change(
            lead, status, who.subject, reason=reason, manual=True
        )
        return lead

    async def assign(
        self, lead_id: uuid.UUID, owner_id: str | None, who: Principal, reason: str = ""
    ) -> Lead:
        from crm_leads.assignment.service import AssignmentService

        who.require("admin", "manager")
        lead = await self.get(lead_id, who, for_update=True)
        await AssignmentService(self.session, self.followup_minutes).reassign(
            lead, owner_id, who.subject, reason
        )
        return lead

    async def merge(self, lead_id: uuid.UUID, other_id: uuid.UUID, who: Principal) -> Lead:
        """Merge ``other`` into ``lead``: keep non-empty fields, union contacts, move activities,
        duplicate links and history. The other lead stays (status merged) for reporting."""
        if lead_id == other_id:
            raise ValidationFailed({"other_id": "a lead cannot be merged with itself"})
        locked = {x.id: x for x in await self.repo.get_many_for_update([lead_id, other_id])}
        lead, other = locked.get(lead_id), locked.get(other_id)
        for wanted, found in ((lead_id, lead), (other_id, other)):
            if found is None or not who.can_see(found.owner_id, found.team):
                raise LeadNotFound(f"lead {wanted} does not exist or is not yours")
        assert lead is not None and other is not None
        for x in (lead, other):
            if x.status in ("merged", "converted"):
                raise Conflict(f"lead {x.id} is {x.status} and cannot be merged", type_slug="lead-closed")
        changes: dict[str, list[Any]] = {}
        for key in MERGE_FIELDS:
            mine, theirs = getattr(lead, key), getattr(other, key)
            if mine in ("", None) and theirs not in ("", None):
                setattr(lead, key, theirs)
                changes[key] = [_jsonable(mine), _jsonable(theirs)]
        for key in ("do_not_email", "do_not_call", "do_not_fax", "qualified"):
            if getattr(other, key) and not getattr(lead, key):
                setattr(lead, key, True)
                changes[key] = [False, True]
        emails = list(dict.fromkeys([*lead.emails, *other.emails]))
        phones = lead.phones + [p for p in other.phones if p["e164"] not in lead.phone_numbers]
        if emails != lead.emails:
            changes["emails"] = [lead.emails, emails]
        if phones != lead.phones:
            changes["phones"] = [lead.phones, phones]
        lead.emails, lead.phones = emails, phones
        lead.phone_numbers = [p["e164"] for p in phones]
        lead.company_key = company_key(lead.company)
        lead.custom_fields = {**other.custom_fields, **lead.custom_fields}
        if lead.owner_id is None and other.owner_id is not None:
            lead.owner_id, lead.team, lead.assigned_at = other.owner_id, other.team, other.assigned_at
        touches = [t for t in (lead.first_touch_at, other.first_touch_at) if t is not None]
        lead.first_touch_at = min(touches) if touches else None
        contacts = [t for t in (lead.last_contact_at, other.last_contact_at) if t is not None]
        lead.last_contact_at = max(contacts) if contacts else None
        lead.updated_at = utcnow()
        lead.score = completeness_score(lead)
        moved = await self.repo.move_activities(other.id, lead.id)
        await self.repo.move_audit(other.id, lead.id)
        await self.repo.move_duplicate_links(other.id, lead.id)
        other.status, other.merged_into_id = "merged", lead.id
        other.status_changed_at = utcnow()
        await self.repo.add_audit(
            lead.id,
            who.subject,
            "merged",
            {"merged_lead_id": str(other.id), "fields": changes, "activities_moved": moved},
        )
        await self.repo.add_audit(other.id, who.subject, "merged_into", {"lead_id": str(lead.id)})
        await add_event(
            self.session,
            tables,
            events.LEAD_MERGED,
            events_pb2.LeadMerged(lead=events.lead_to_proto(lead), merged_lead_id=str(other.id)),
            producer="leads",
            aggregate_id=str(lead.id),
        )
        await self.session.flush()
        return lead

    # --- custom fields -----------------------------------------------------------------------------
    async def define_custom_field(self, body: CustomFieldDefIn, who: Principal) -> None:
        who.require("admin")
        if body.type == "choice" and not body.choices:
            raise ValidationFailed({"choices": "a choice field needs at least one choice"})
        await self.repo.upsert_custom_field_def(body.model_dump())
        self._defs = None

    async def custom_fields(self) -> list[CustomFieldDef]:
        return await self._custom_defs()

    # --- tasks -------------------------------------------------------------------------------------
    async def score(self, lead_id: uuid.UUID) -> int | None:
        lead = await self.repo.get(lead_id)
        if lead is None:
            return None
        score = completeness_score(lead)
        await self.repo.set_score(lead_id, score)
        return score

    async def unscored_ids(self, limit: int = 500) -> list[uuid.UUID]:
        return await self.repo.unscored_ids(limit)


def custom_fields_json(lead: Lead) -> str:
    return json.dumps(lead.custom_fields, ensure_ascii=False)


__all__ = ["CLOSED_STATUSES", "LeadService", "completeness_score", "custom_fields_json"]
