"""Lead business logic: normalise, store, emit events. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from crm_platform.auth import Principal
from crm_platform.celery import enqueue_after_commit
from crm_platform.db import utcnow
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from crm_platform.outbox import add_event
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.db import tables
from crm_leads.leads import events
from crm_leads.leads.exceptions import LeadNotFound
from crm_leads.leads.models import Lead
from crm_leads.leads.normalise import normalise_email, normalise_phone
from crm_leads.leads.repository import LeadRepository
from crm_leads.leads.schemas import LeadCreate
from crm_leads.worker import celery

SCORED_FIELDS = ("first_name", "last_name", "company", "title", "emails", "phones", "source", "description")


def completeness_score(lead: Lead) -> int:
    """0..100: share of the key fields that are filled in."""
    filled = sum(1 for f in SCORED_FIELDS if getattr(lead, f))
    return round(100 * filled / len(SCORED_FIELDS))


class LeadService:
    def __init__(self, session: AsyncSession, default_region: str = "IR") -> None:
        self.session = session
        self.repo = LeadRepository(session)
        self.default_region = default_region

    def _build(self, data: LeadCreate, who: Principal, prefix: str = "") -> Lead:
        errors: dict[str, str] = {}
        region = (data.default_region or self.default_region).upper()
        emails: list[str] = []
        for i, raw in enumerate(data.emails):
            try:
                email = normalise_email(raw)
            except ValueError as exc:
                errors[f"{prefix}emails.{i}"] = str(exc)
                continue
            if email not in emails:
                emails.append(email)
        phones: list[dict[str, str]] = []
        for i, phone in enumerate(data.phones):
            try:
                e164 = normalise_phone(phone.number, region)
            except ValueError as exc:
                errors[f"{prefix}phones.{i}.number"] = str(exc)
                continue
            if all(p["e164"] != e164 for p in phones):
                phones.append({"e164": e164, "kind": phone.kind})
        if not (
            data.first_name.strip() or data.last_name.strip() or data.company.strip() or emails or phones
        ):
            errors[f"{prefix}name"] = "a lead needs a name, a company, an e-mail or a phone"
        if errors:
            raise ValidationFailed(errors)
        is_rep = not who.is_admin and not who.is_manager
        return Lead(
            id=new_id(),
            first_name=data.first_name.strip(),
            last_name=data.last_name.strip(),
            company=data.company.strip(),
            title=data.title.strip(),
            emails=emails,
            phones=phones,
            source=data.source.strip(),
            status="new",
            owner_id=who.subject if is_rep else None,
            team=who.team,
            description=data.description,
            created_at=utcnow(),
            updated_at=utcnow(),
        )

    async def create(self, data: LeadCreate, who: Principal) -> Lead:
        return (await self.create_many([data], who, batch=False))[0]

    async def create_many(
        self, items: Sequence[LeadCreate], who: Principal, batch: bool = True
    ) -> list[Lead]:
        leads: list[Lead] = []
        errors: dict[str, str] = {}
        for i, data in enumerate(items):
            try:
                leads.append(self._build(data, who, prefix=f"leads.{i}." if batch else ""))
            except ValidationFailed as exc:
                errors.update(exc.field_errors)
        if errors:
            raise ValidationFailed(errors)
        await self.repo.add_all(leads)
        for lead in leads:
            await add_event(
                self.session,
                tables,
                events.LEAD_CREATED,
                events.lead_created(lead),
                producer="leads",
                aggregate_id=str(lead.id),
            )
            enqueue_after_commit(self.session, celery, "leads.score_lead", str(lead.id))
        return leads

    async def get(self, lead_id: uuid.UUID, who: Principal) -> Lead:
        lead = await self.repo.get(lead_id)
        if lead is None or not who.can_see(lead.owner_id, lead.team):
            raise LeadNotFound(f"lead {lead_id} does not exist or is not yours")
        return lead

    async def score(self, lead_id: uuid.UUID) -> int | None:
        lead = await self.repo.get(lead_id)
        if lead is None:
            return None
        score = completeness_score(lead)
        await self.repo.set_score(lead_id, score)
        return score

    async def unscored_ids(self, limit: int = 500) -> list[uuid.UUID]:
        return await self.repo.unscored_ids(limit)
