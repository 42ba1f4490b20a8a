"""Lead conversion, deals side: plan (which organization/contact to reuse or create), then in the caller's
single transaction create or fill organization + contact, create the opportunity, copy the lead's
activities and record the result under the conversion id, so a retry returns the same records.
Flushes, never commits."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from crm_platform.contact_points import company_key, normalise_email, normalise_phone
from crm_platform.db import utcnow
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_deals.conversion.exceptions import LeadAlreadyConverted
from crm_deals.conversion.models import LeadConversion
from crm_deals.conversion.repository import ConversionRepository
from crm_deals.conversion.schemas import ActivityIn, Candidate, LeadIn, OptionsIn, Plan, RecordPlan, Result
from crm_deals.opportunities.models import ACTIVITY_KINDS
from crm_deals.opportunities.repository import OpportunityRepository
from crm_deals.opportunities.service import OpportunityService
from crm_deals.organizations.events import display_name
from crm_deals.organizations.matching import company_domains, rank
from crm_deals.organizations.models import Contact, Organization
from crm_deals.organizations.repository import OrganizationRepository
from crm_deals.organizations.service import CONTACT_FILLABLE, ORGANIZATION_FILLABLE, OrganizationService
from crm_deals.pipelines.service import PipelineService, first_open_stage

ADDRESS = ("street", "city", "region", "postal_code", "country")


def _result(row: LeadConversion, replayed: bool) -> Result:
    return Result(
        conversion_id=row.conversion_id,
        lead_id=row.lead_id,
        organization_id=row.organization_id,
        contact_id=row.contact_id,
        opportunity_id=row.opportunity_id,
        organization_created=row.organization_created,
        contact_created=row.contact_created,
        moved_activities=list(row.moved_activities),
        replayed=replayed,
    )


class ConversionService:
    def __init__(
        self, session: AsyncSession, default_region: str = "IR", default_currency: str = "EUR"
    ) -> None:
        self.session = session
        self.repo = ConversionRepository(session)
        self.orgs = OrganizationRepository(session)
        self.organizations = OrganizationService(session, default_region)
        self.opportunities = OpportunityService(session, default_currency)
        self.default_region = default_region
        self.default_currency = default_currency

    # --- input -----------------------------------------------------------------------------------------
    def clean(self, lead: LeadIn) -> LeadIn:
        """Re-normalise what leads sent (deals trusts no other service's formats)."""
        errors: dict[str, str] = {}
        emails: list[str] = []
        for i, raw in enumerate(lead.emails):
            try:
                email = normalise_email(raw)
            except ValueError as exc:
                errors[f"lead.emails.{i}"] = str(exc)
                continue
            if email not in emails:
                emails.append(email)
        phones: list[dict[str, str]] = []
        for i, phone in enumerate(lead.phones):
            try:
                e164 = normalise_phone(phone["e164"], self.default_region)
            except ValueError as exc:
                errors[f"lead.phones.{i}"] = str(exc)
                continue
            if all(p["e164"] != e164 for p in phones):
                phones.append({"e164": e164, "kind": phone.get("kind") or "work"})
        for name in ("first_name", "last_name", "company", "title", "website", "city", "industry", "source"):
            setattr(lead, name, getattr(lead, name).strip())
        lead.country = lead.country.strip().upper()[:2]
        if not (lead.full_name or lead.company or emails or phones):
            errors["lead"] = "the lead has no name, company, e-mail or phone"
        if errors:
            raise ValidationFailed(errors)
        lead.emails, lead.phones = emails, phones
        return lead

    # --- planning --------------------------------------------------------------------------------------
    def _accessible(self, record: Organization | Contact, lead: LeadIn, actor: str) -> bool:
        return record.team == lead.team or (
            record.owner_id is not None and record.owner_id in (lead.owner_id, actor)
        )

    def _organization_values(self, lead: LeadIn, b2b: bool) -> dict[str, Any]:
        domains = company_domains(lead.emails, lead.website)
        values: dict[str, Any] = {
            "name": lead.company or (domains[0] if domains else ""),
            "domain": domains[0] if domains else "",
            "industry": lead.industry,
        }
        if b2b:
            values.update({k: getattr(lead, k) for k in ADDRESS})
        return values

    def _contact_values(self, lead: LeadIn, b2b: bool) -> dict[str, Any]:
        values: dict[str, Any] = {
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "title": lead.title,
            "emails": list(lead.emails),
            "phones": [dict(p) for p in lead.phones],
        }
        if not b2b:
            values.update({k: getattr(lead, k) for k in ADDRESS})
        return values

    async def plan(self, lead: LeadIn, options: OptionsIn, actor: str) -> Plan:
        errors: dict[str, str] = {}
        domains = company_domains(lead.emails, lead.website)
        name_key = company_key(lead.company) if lead.company else ""
        phones = [p["e164"] for p in lead.phones]

        # organization: chosen, skipped (B2C), matched (domain > company > phone) or created
        org_values = self._organization_values(lead, b2b=True)
        organization: RecordPlan
        if options.skip_organization:
            organization = RecordPlan(action="skip")
        elif options.organization_id is not None:
            chosen = await self.orgs.get_organization(options.organization_id)
            if chosen is None or not self._accessible(chosen, lead, actor):
                errors["options.organization_id"] = "no such organization"
                organization = RecordPlan(action="skip")
            else:
                organization = RecordPlan(action="reuse", record=chosen, matched_on=["chosen"])
        else:
            found = await self.orgs.find_organizations(
                team=lead.team, domains=domains, name_key=name_key, phones=phones if lead.company else []
            )
            found.sort(key=lambda x: rank(x[1]))
            candidates = [Candidate(o.id, o.name, sorted(on)) for o, on in found]
            if found:
                org, on = found[0]
                organization = RecordPlan(
                    action="reuse", record=org, matched_on=sorted(on), candidates=candidates
                )
            elif org_values["name"] and (lead.company or domains):
                organization = RecordPlan(action="create")
            else:
                organization = RecordPlan(action="skip")  # a private person (B2C): contact only
        b2b = organization.action != "skip"
        organization.values = org_values
        if organization.action == "reuse" and isinstance(organization.record, Organization):
            organization.filled_fields = OrganizationService.fill_plan(
                organization.record, org_values, ORGANIZATION_FILLABLE
            )

        # contact: chosen, matched (e-mail/phone, the chosen organization's first) or created
        contact_values = self._contact_values(lead, b2b)
        org_id = organization.record.id if organization.record is not None else None
        contact: RecordPlan
        if options.contact_id is not None:
            chosen_contact = await self.orgs.get_contact(options.contact_id)
            if chosen_contact is None or not self._accessible(chosen_contact, lead, actor):
                errors["options.contact_id"] = "no such contact"
                contact = RecordPlan(action="skip")
            else:
                contact = RecordPlan(action="reuse", record=chosen_contact, matched_on=["chosen"])
        else:
            found_contacts = await self.orgs.find_contacts(
                team=lead.team,
                emails=lead.emails,
                phones=phones,
                full_name=lead.full_name,
                organization_id=org_id,
            )
            found_contacts.sort(key=lambda x: (x[0].organization_id != org_id or org_id is None, rank(x[1])))
            candidates = [Candidate(c.id, display_name(c), sorted(on)) for c, on in found_contacts]
            if found_contacts:
                person, on = found_contacts[0]
                contact = RecordPlan(
                    action="reuse", record=person, matched_on=sorted(on), candidates=candidates
                )
            elif lead.full_name or lead.emails or lead.phones:
                contact = RecordPlan(action="create")
            else:
                contact = RecordPlan(action="skip")
        contact.values = contact_values
        if contact.action == "reuse" and isinstance(contact.record, Contact):
            contact.filled_fields = OrganizationService.fill_plan(
                contact.record, contact_values, CONTACT_FILLABLE
            )
            if contact.record.organization_id is None and org_id is not None:
                contact.filled_fields.append("organization_id")
        if organization.action == "skip" and contact.action == "skip" and not errors:
            errors["options"] = "the conversion would create neither an organization nor a contact"

        # opportunity
        pipelines = PipelineService(self.session)
        try:
            pipeline = await pipelines.resolve(options.pipeline_id, "options.pipeline_id")
        except ValidationFailed as exc:
            errors.update(exc.field_errors)
            pipeline = await pipelines.default()
        stage = first_open_stage(pipeline)
        if options.stage_id is not None:
            found_stage = next((s for s in pipeline.stages if s.id == options.stage_id), None)
            if found_stage is None or found_stage.kind != "open":
                errors["options.stage_id"] = "must be an open stage of the pipeline"
            else:
                stage = found_stage
        if errors:
            raise ValidationFailed(errors)
        name = options.opportunity_name.strip() or lead.company or lead.full_name or (lead.emails or [""])[0]
        if not name:
            name = phones[0]
        return Plan(
            organization=organization,
            contact=contact,
            pipeline=pipeline,
            stage=stage,
            opportunity_name=name[:300],
            amount=options.amount if options.amount is not None else Decimal("0"),
            currency=options.currency or self.default_currency,
            expected_close_date=options.expected_close_date,
            owner_id=lead.owner_id or actor or None,
            team=lead.team,
        )

    async def preview(self, lead: LeadIn, options: OptionsIn, actor: str = "") -> Plan:
        return await self.plan(self.clean(lead), options, actor)

    # --- conversion ------------------------------------------------------------------------------------
    async def convert(
        self,
        conversion_id: uuid.UUID,
        lead: LeadIn,
        activities: list[ActivityIn],
        options: OptionsIn,
        actor: str,
    ) -> Result:
        stored = await self.repo.get(conversion_id)
        if stored is not None:
            return self._replay(stored, lead)
        lead = self.clean(lead)
        bad = [f"activities.{i}.kind" for i, a in enumerate(activities) if a.kind not in ACTIVITY_KINDS]
        if bad:
            raise ValidationFailed(dict.fromkeys(bad, f"must be one of {', '.join(ACTIVITY_KINDS)}"))
        if not await self.repo.claim(conversion_id, lead.lead_id, actor):
            # a concurrent call committed first: same id -> its result; same lead, other id -> refused
            stored = await self.repo.get(conversion_id)
            if stored is not None:
                return self._replay(stored, lead)
            other = await self.repo.get_by_lead(lead.lead_id)
            raise LeadAlreadyConverted(
                f"lead {lead.lead_id} was converted by conversion {other.conversion_id if other else '?'}"
            )
        domains = company_domains(lead.emails, lead.website)
        keys = [f"org:{lead.team}:domain:{d}" for d in domains]
        if lead.company:
            keys.append(f"org:{lead.team}:company:{company_key(lead.company)}")
        keys += [f"contact:{lead.team}:email:{e}" for e in lead.emails]
        keys += [f"contact:{lead.team}:phone:{p['e164']}" for p in lead.phones]
        await self.repo.lock_keys(keys)

        plan = await self.plan(lead, options, actor)
        owner = plan.owner_id
        organization: Organization | None = None
        if plan.organization.action == "create":
            organization = await self.organizations.new_organization(
                plan.organization.values, owner, lead.team
            )
        elif plan.organization.action == "reuse":
            assert isinstance(plan.organization.record, Organization)
            organization = plan.organization.record
            await self.organizations.fill(organization, plan.organization.values)

        contact: Contact | None = None
        if plan.contact.action == "create":
            values = {**plan.contact.values, "organization_id": organization.id if organization else None}
            contact = await self.organizations.new_contact(values, owner, lead.team)
        elif plan.contact.action == "reuse":
            assert isinstance(plan.contact.record, Contact)
            contact = plan.contact.record
            linked: list[str] = []
            if contact.organization_id is None and organization is not None:
                contact.organization_id = organization.id
                linked.append("organization_id")
            await self.organizations.fill(contact, plan.contact.values, linked)

        opportunity = await self.opportunities.new_opportunity(
            name=plan.opportunity_name,
            pipeline=plan.pipeline,
            stage=plan.stage,
            owner_id=owner,
            team=lead.team,
            actor=actor,
            organization_id=organization.id if organization else None,
            contact_id=contact.id if contact else None,
            amount=plan.amount,
            currency=plan.currency,
            expected_close_date=plan.expected_close_date,
            source=lead.source,
            campaign=lead.campaign,
            next_step=options.next_step.strip(),
            lead_id=lead.lead_id,
        )
        moved = await self._move_activities(lead, activities, opportunity.id, contact, organization, actor)

        row = await self.repo.get(conversion_id)
        assert row is not None
        row.organization_id = organization.id if organization else None
        row.contact_id = contact.id if contact else None
        row.opportunity_id = opportunity.id
        row.organization_created = plan.organization.action == "create"
        row.contact_created = plan.contact.action == "create"
        row.moved_activities = moved
        row.created_at = utcnow()
        await self.session.flush()
        result = _result(row, replayed=False)
        result.opportunity = opportunity
        return result

    def _replay(self, stored: LeadConversion, lead: LeadIn) -> Result:
        if stored.lead_id != lead.lead_id:
            raise ValidationFailed({"conversion_id": "was used for another lead"})
        return _result(stored, replayed=True)

    async def _move_activities(
        self,
        lead: LeadIn,
        activities: list[ActivityIn],
        opportunity_id: uuid.UUID,
        contact: Contact | None,
        organization: Organization | None,
        actor: str,
    ) -> list[dict[str, str]]:
        now = utcnow()
        rows: list[dict[str, object]] = []
        common = {
            "opportunity_id": opportunity_id,
            "contact_id": contact.id if contact else None,
            "organization_id": organization.id if organization else None,
            "updated_at": now,
        }
        for a in activities:
            rows.append(
                {
                    **common,
                    "id": new_id(),
                    "kind": a.kind,
                    "subject": a.subject[:300],
                    "body": a.body,
                    "owner_id": a.owner_id or None,
                    "due_at": a.due_at,
                    "done_at": a.done_at,
                    "starts_at": a.starts_at,
                    "ends_at": a.ends_at,
                    "created_by": a.created_by,
                    "created_at": a.created_at or now,
                    "source_ref": f"leads.activity:{a.id}",
                }
            )
        if lead.description.strip():
            rows.append(
                {
                    **common,
                    "id": new_id(),
                    "kind": "note",
                    "subject": "Lead description",
                    "body": lead.description,
                    "owner_id": lead.owner_id or None,
                    "due_at": None,
                    "done_at": now,
                    "starts_at": None,
                    "ends_at": None,
                    "created_by": actor,
                    "created_at": now,
                    "source_ref": f"leads.lead:{lead.lead_id}:description",
                }
            )
        ids = await OpportunityRepository(self.session).add_activities_once(rows)
        return [
            {"lead_activity_id": str(a.id), "activity_id": str(ids[f"leads.activity:{a.id}"])}
            for a in activities
            if f"leads.activity:{a.id}" in ids
        ]
