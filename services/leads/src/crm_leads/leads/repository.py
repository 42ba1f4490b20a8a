"""All SQL on leads, their audit trail, duplicate links and custom field definitions."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from crm_platform.auth import Principal
from crm_platform.db import driver_fetch, insert_objects, insert_rows, select_copies, utcnow
from crm_platform.ids import new_id
from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.leads.models import OPEN_STATUSES, CustomFieldDef, Lead, LeadAudit, LeadDuplicate

# Core tables for bulk writes (no ORM unit of work for rows written once)
AUDITS: Table = LeadAudit.__table__  # type: ignore[assignment]
LINKS: Table = LeadDuplicate.__table__  # type: ignore[assignment]

# A criterion that matches more leads than this is not discriminating (Odoo uses 20 the same way).
MAX_MATCHES_PER_CRITERION = 20


# Earlier leads sharing an e-mail, a phone or a company key with a batch of new ones, at most `most`
# per value (the caller drops values with more: not discriminating). One prepared statement whatever the
# batch. The query is the function lead_duplicate_candidates (migration 0008): each value is looked up
# on its own (LATERAL ... LIMIT), with sequential scans off while it is planned, so every lookup is an
# index probe. One `emails && :all_emails` for a whole batch was planned as a sequential scan once the
# batch had ~100 values; the per-value form without the function got a generic plan that scanned the
# table for small batches (no statistics for single e-mails: 0.5% of the table assumed per value, which
# the LIMIT made look cheap to find by scanning). The new leads are not in the table yet (a create writes
# them at its end).
# the probe per value is a function planned with sequential scans off (migration 0008); run through
# asyncpg itself: it is one of the create's few statements (crm_platform.db.driver_fetch)
MATCHES = (
    "SELECT lead_id, kind, value FROM lead_duplicate_candidates("
    "$1::varchar[], $2::varchar[], $3::varchar[], $4::integer)"
)


def visible_to(who: Principal) -> ColumnElement[bool]:
    """SQL form of Principal.can_see: admins all, managers their team's, reps their own."""
    if who.is_admin:
        return Lead.id.is_not(None)
    if who.is_manager and who.team:
        return or_(Lead.team == who.team, Lead.owner_id == who.subject)
    return Lead.owner_id == who.subject


class LeadRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_all(self, leads: list[Lead]) -> list[Lead]:
        self.session.add_all(leads)
        await self.session.flush()
        return leads

    async def insert_new(self, leads: list[Lead]) -> None:
        """INSERT new leads in their final state (one statement); they then belong to the session."""
        await insert_objects(self.session, leads, attach=True)

    async def get(self, lead_id: uuid.UUID, *, for_update: bool = False) -> Lead | None:
        if for_update:
            stmt = select(Lead).where(Lead.id == lead_id).with_for_update()
            return (await self.session.scalars(stmt)).first()
        return await self.session.get(Lead, lead_id)

    async def get_many_for_update(self, ids: Sequence[uuid.UUID]) -> list[Lead]:
        stmt = select(Lead).where(Lead.id.in_(ids)).order_by(Lead.id).with_for_update()
        return list((await self.session.scalars(stmt)).all())

    async def search(
        self,
        who: Principal,
        *,
        status: str | None = None,
        owner_id: str | None = None,
        q: str | None = None,
        include_closed: bool = False,
        after: tuple[dt.datetime, uuid.UUID] | None = None,
        limit: int = 50,
    ) -> list[Lead]:
        stmt = select(Lead).where(visible_to(who))
        if status:
            stmt = stmt.where(Lead.status == status)
        elif not include_closed:
            stmt = stmt.where(Lead.status.in_(OPEN_STATUSES))
        if owner_id:
            stmt = stmt.where(Lead.owner_id == owner_id)
        if q:
            like = f"%{q.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(Lead.first_name + " " + Lead.last_name).like(like),
                    Lead.company_key.like(like),
                    Lead.emails.contains([q.lower()]),
                )
            )
        if after is not None:
            stmt = stmt.where(
                or_(Lead.created_at < after[0], and_(Lead.created_at == after[0], Lead.id < after[1]))
            )
        stmt = stmt.order_by(Lead.created_at.desc(), Lead.id.desc()).limit(limit)
        return list((await self.session.scalars(stmt)).all())

    async def find_matches_bulk(self, leads: Sequence[Lead]) -> dict[uuid.UUID, dict[uuid.UUID, set[str]]]:
        """Duplicate candidates of new leads among earlier ones, in one statement for the whole batch.

        A criterion value shared by more than MAX_MATCHES_PER_CRITERION leads is not discriminating
        and is ignored (a generic company name, a switchboard number)."""
        found_rows = await driver_fetch(
            self.session,
            MATCHES,
            sorted({e for x in leads for e in x.emails}),
            sorted({p for x in leads for p in x.phone_numbers}),
            sorted({x.company_key for x in leads if x.company_key}),
            MAX_MATCHES_PER_CRITERION + 1,
        )
        owners: dict[tuple[str, Any], list[uuid.UUID]] = {}
        for lead_id, kind, value in found_rows:
            owners.setdefault((kind, value), []).append(lead_id)
        result: dict[uuid.UUID, dict[uuid.UUID, set[str]]] = {}
        for lead in leads:
            found: dict[uuid.UUID, set[str]] = {}
            keys = [("email", e) for e in lead.emails] + [("phone", p) for p in lead.phone_numbers]
            if lead.company_key:
                keys.append(("company", lead.company_key))
            for key in keys:
                hits = owners.get(key, [])
                if len(hits) > MAX_MATCHES_PER_CRITERION:
                    continue
                for other in hits:
                    found.setdefault(other, set()).add(key[0])
            result[lead.id] = found
        return result

    async def link_duplicates(
        self, matches: dict[uuid.UUID, dict[uuid.UUID, set[str]]], *, new: bool = False
    ) -> None:
        """Store duplicate links. ``new``: the leads were created in this transaction, so no link of
        theirs exists yet (a plain INSERT, which a coalesced block collects); otherwise links that
        exist already are kept."""
        now = utcnow()
        rows = [
            {"lead_id": lead_id, "duplicate_of_id": other, "matched_on": sorted(on), "created_at": now}
            for lead_id, found in matches.items()
            for other, on in found.items()
            if other != lead_id
        ]
        if new:
            await insert_rows(self.session, LINKS, rows)
            return
        for start in range(0, len(rows), 2000):  # 4 parameters a row: well below asyncpg's 32,767
            chunk = rows[start : start + 2000]
            await self.session.execute(pg_insert(LINKS).values(chunk).on_conflict_do_nothing())

    async def duplicates_of(self, lead_id: uuid.UUID) -> list[LeadDuplicate]:
        stmt = (
            select(LeadDuplicate)
            .where(or_(LeadDuplicate.lead_id == lead_id, LeadDuplicate.duplicate_of_id == lead_id))
            .order_by(LeadDuplicate.created_at)
        )
        return list((await self.session.scalars(stmt)).all())

    async def move_duplicate_links(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        """Re-point the merged lead's links at the survivor; drop links between the two."""
        links = await self.duplicates_of(from_id)
        await self.session.execute(
            delete(LeadDuplicate).where(
                or_(LeadDuplicate.lead_id == from_id, LeadDuplicate.duplicate_of_id == from_id)
            )
        )
        moved: dict[uuid.UUID, set[str]] = {}
        for link in links:
            other = link.duplicate_of_id if link.lead_id == from_id else link.lead_id
            if other != to_id:
                moved.setdefault(other, set()).update(link.matched_on)
        await self.link_duplicates({to_id: moved})
        await self.session.execute(
            delete(LeadDuplicate).where(
                LeadDuplicate.lead_id == to_id, LeadDuplicate.duplicate_of_id == to_id
            )
        )

    async def add_audit(self, lead_id: uuid.UUID, actor: str, action: str, changes: dict[str, Any]) -> None:
        self.session.add(
            LeadAudit(id=new_id(), lead_id=lead_id, actor=actor, action=action, changes=changes, at=utcnow())
        )

    async def add_audits(self, rows: list[dict[str, Any]]) -> None:
        await insert_rows(self.session, AUDITS, [{"id": new_id(), "at": utcnow(), **r} for r in rows])

    async def audit_trail(self, lead_id: uuid.UUID) -> list[LeadAudit]:
        stmt = select(LeadAudit).where(LeadAudit.lead_id == lead_id).order_by(LeadAudit.at, LeadAudit.id)
        return list((await self.session.scalars(stmt)).all())

    async def move_audit(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        await self.session.execute(
            update(LeadAudit).where(LeadAudit.lead_id == from_id).values(lead_id=to_id)
        )

    async def move_activities(self, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
        from crm_leads.activities.models import Activity

        result = await self.session.execute(
            update(Activity).where(Activity.lead_id == from_id).values(lead_id=to_id)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def set_score(self, lead_id: uuid.UUID, score: int) -> None:
        await self.session.execute(update(Lead).where(Lead.id == lead_id).values(score=score))

    async def unscored_ids(self, limit: int) -> list[uuid.UUID]:
        stmt = select(Lead.id).where(Lead.score.is_(None)).order_by(Lead.created_at).limit(limit)
        return list((await self.session.scalars(stmt)).all())

    async def stale_open_leads(self, cutoff: dt.datetime, limit: int) -> list[Lead]:
        stmt = (
            select(Lead)
            .where(
                Lead.status.in_(OPEN_STATUSES),
                func.coalesce(Lead.last_contact_at, Lead.created_at) < cutoff,
            )
            .order_by(Lead.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list((await self.session.scalars(stmt)).all())

    async def custom_field_defs(self) -> list[CustomFieldDef]:
        """Read-only copies (no session), for the per-process config cache."""
        table = CustomFieldDef.__table__
        return await select_copies(self.session, CustomFieldDef, select(table).order_by(table.c.key))

    async def upsert_custom_field_def(self, values: dict[str, Any]) -> None:
        stmt = pg_insert(CustomFieldDef).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CustomFieldDef.key], set_={k: stmt.excluded[k] for k in values if k != "key"}
        )
        await self.session.execute(stmt)
