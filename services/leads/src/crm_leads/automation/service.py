"""Status automation (MiniCRM-style): new -> waiting_for_contact (follow-up task created) -> in_progress
(first task done) -> serious_prospect (N closed tasks + qualified); forgotten after N days without contact
(set only by the periodic job); junk stops further activity. Every change is audited and emitted as
crm.leads.lead.status_changed. Flushes, never commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from crm.leads.v1 import events_pb2, leads_pb2
from crm_platform.db import utcnow
from crm_platform.errors import Conflict, ValidationFailed
from crm_platform.outbox import add_events
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.db import tables
from crm_leads.leads import events
from crm_leads.leads.models import OPEN_STATUSES, Lead
from crm_leads.leads.repository import LeadRepository

ALL_STATUSES = (*OPEN_STATUSES, "lost", "forgotten", "junk", "converted", "merged")
MANUAL_STATUSES = ("new", "in_progress", "contact_in_future", "serious_prospect", "qualified", "lost", "junk")
SYSTEM_ONLY = ("forgotten", "converted", "merged", "waiting_for_contact")
FINAL = ("converted", "merged")


class StatusService:
    def __init__(self, session: AsyncSession, serious_prospect_closed_tasks: int = 2) -> None:
        self.session = session
        self.repo = LeadRepository(session)
        self.serious_after = serious_prospect_closed_tasks

    async def change(
        self, lead: Lead, new: str, actor: str, *, reason: str = "", manual: bool = False
    ) -> bool:
        """Move a lead to ``new``; returns False when it already was there."""
        if new not in ALL_STATUSES:
            raise ValidationFailed({"status": f"unknown status {new!r}"})
        if manual and new in SYSTEM_ONLY:
            raise ValidationFailed({"status": f"{new!r} is set automatically and cannot be chosen"})
        if lead.status in FINAL:
            raise Conflict(f"lead is {lead.status}; its status can no longer change", type_slug="lead-closed")
        return bool(await self.change_many([lead], new, actor, reason=reason))

    async def change_many(
        self, leads: Sequence[Lead], new: str, actor: str, *, reason: str = ""
    ) -> list[Lead]:
        """Move leads (already checked) to ``new`` with one audit insert and one outbox insert."""
        now = utcnow()
        moved, audits, changed = [], [], []
        for lead in leads:
            old = lead.status
            if old == new:
                continue
            lead.status, lead.status_changed_at, lead.updated_at = new, now, now
            moved.append(lead)
            audits.append(
                {
                    "lead_id": lead.id,
                    "actor": actor,
                    "action": "status_changed",
                    "changes": {"status": [old, new], "reason": reason},
                }
            )
            changed.append(
                (
                    events.LEAD_STATUS_CHANGED,
                    events_pb2.LeadStatusChanged(
                        lead_id=str(lead.id),
                        old_status=events.STATUSES.get(old, leads_pb2.LEAD_STATUS_UNSPECIFIED),
                        new_status=events.STATUSES[new],
                    ),
                    str(lead.id),
                )
            )
        if moved:
            await self.repo.add_audits(audits)
            await add_events(self.session, tables, changed, producer="leads")
            await self.session.flush()
        return moved

    async def on_followup_created(self, lead: Lead, actor: str) -> None:
        if lead.status == "new":
            await self.change(lead, "waiting_for_contact", actor, reason="follow-up task created")

    async def on_task_completed(self, lead: Lead, actor: str, closed_tasks: int) -> None:
        if lead.status in ("new", "waiting_for_contact"):
            await self.change(lead, "in_progress", actor, reason="first task done")
        await self.maybe_serious(lead, actor, closed_tasks)

    async def maybe_serious(self, lead: Lead, actor: str, closed_tasks: int) -> None:
        if lead.status == "in_progress" and lead.qualified and closed_tasks >= self.serious_after:
            await self.change(
                lead, "serious_prospect", actor, reason=f"{closed_tasks} tasks closed and qualified"
            )

    async def mark_forgotten(self, days: int, now: dt.datetime | None = None, limit: int = 1000) -> int:
        """Open leads with no contact for ``days`` become forgotten (the periodic job)."""
        cutoff = (now or utcnow()) - dt.timedelta(days=days)
        leads = await self.repo.stale_open_leads(cutoff, limit)
        for lead in leads:
            await self.change(lead, "forgotten", "system", reason=f"no contact for {days} days")
        return len(leads)
