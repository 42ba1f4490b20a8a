"""Follow-up work on leads: notes, tasks, calendar events, logged calls and e-mails; the agenda;
speed-to-lead; due reminders; and the activity side of the status automation. Flushes, never commits.

Every write locks the lead row first (``SELECT ... FOR UPDATE``), so the first touch is set once, task
completions are counted exactly and status moves happen in order even when requests race.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from crm_platform.auth import Principal
from crm_platform.db import after_commit, new_object, utcnow
from crm_platform.errors import Forbidden, ValidationFailed
from crm_platform.fields import EARLIEST, LATEST
from crm_platform.ids import new_id
from crm_platform.outbox import add_event
from sqlalchemy import ColumnElement, or_
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.activities import events, metrics
from crm_leads.activities.exceptions import ActivityNotCompletable, ActivityNotFound, LeadClosedForActivity
from crm_leads.activities.models import Activity
from crm_leads.activities.repository import SCHEDULED_KINDS, ActivityRepository
from crm_leads.activities.schemas import (
    ActivityCreate,
    ActivityOut,
    ActivityUpdate,
    AgendaItem,
    AgendaOut,
    CallCreate,
    EmailCreate,
    EventCreate,
    LeadSummary,
    NoteCreate,
    SpeedToLeadOut,
    TaskCreate,
)
from crm_leads.automation.service import StatusService
from crm_leads.db import tables
from crm_leads.leads.exceptions import LeadNotFound
from crm_leads.leads.models import Lead
from crm_leads.leads.repository import visible_to
from crm_leads.leads.service import LeadService

log = logging.getLogger(__name__)

BLOCKED_STATUSES = ("junk", "converted", "merged")
"""A lead in one of these takes no further activity (409)."""
CONTACT_KINDS = ("call", "email", "note")
"""Logging one of these is a touch: it sets last_contact_at, and the owner's first one the first touch."""
REVIVING_KINDS = ("call", "email")
"""Real contact with a forgotten lead brings it back to in_progress."""
FIRST_FOLLOWUP_SUBJECT = "Call the new lead"
DEFAULT_EVENT_LENGTH = dt.timedelta(minutes=30)
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_AGENDA_WINDOW = dt.timedelta(days=366)
DEFAULT_AGENDA_WINDOW = dt.timedelta(days=7)

# Which PATCH fields fit which kind, and which of them may be sent as null (to clear them).
UPDATABLE: dict[str, frozenset[str]] = {
    "note": frozenset({"subject", "body"}),
    "task": frozenset({"subject", "body", "owner_id", "due_at", "remind_at", "remind_minutes_before"}),
    "event": frozenset(
        {"subject", "body", "owner_id", "starts_at", "ends_at", "remind_at", "remind_minutes_before"}
    ),
    "call": frozenset({"subject", "body", "direction", "outcome", "duration_seconds", "occurred_at"}),
    "email": frozenset({"subject", "body", "direction", "occurred_at"}),
}
NULLABLE = frozenset({"remind_at", "remind_minutes_before", "duration_seconds", "ends_at"})


def encode_cursor(a: Activity) -> str:
    raw = f"{a.created_at.isoformat()}|{a.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, ident = raw.partition("|")
        when = dt.datetime.fromisoformat(at)
        if when.tzinfo is None or not EARLIEST <= when < LATEST:
            raise ValueError("not a time this service writes")
        return when, uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed({"cursor": "is not a cursor returned by this endpoint"}) from None


def lead_name(lead: Lead) -> str:
    return f"{lead.first_name} {lead.last_name}".strip() or lead.company


class ActivityService:
    def __init__(self, session: AsyncSession, serious_prospect_closed_tasks: int = 2) -> None:
        self.session = session
        self.repo = ActivityRepository(session)
        self.status = StatusService(session, serious_prospect_closed_tasks=serious_prospect_closed_tasks)

    # --- called by the assignment engine ----------------------------------------------------------
    async def create_first_followup(
        self, lead: Lead, owner_id: str, due_in_minutes: int, actor: str = "system"
    ) -> Activity:
        """The "call the new lead" task for the new owner, due ``due_in_minutes`` from now, with its
        reminder at the due time; the lead moves new -> waiting_for_contact. Idempotent per lead: an
        open first follow-up that already exists is handed to ``owner_id`` and returned."""
        locked = await self._lock(lead.id)
        now = utcnow()
        existing = await self.repo.open_first_followups(locked.id)
        if existing:
            task = existing[0]
            if task.owner_id != owner_id:
                task.owner_id = owner_id
                task.updated_at = now
                await self.session.flush()
        else:
            due = now + dt.timedelta(minutes=max(0, due_in_minutes))
            task = self._new(locked, "task", actor, now, subject=FIRST_FOLLOWUP_SUBJECT)
            task.owner_id = owner_id
            task.due_at = due
            task.remind_at = due
            task.is_first_followup = True
            await self.repo.add(task)
            after_commit(self.session, metrics.ACTIVITIES_CREATED.labels("task").inc)
        await self.status.on_followup_created(locked, actor)
        return task

    async def create_first_followups(
        self, items: Sequence[tuple[Lead, str, int]], actor: str = "system"
    ) -> list[Activity]:
        """Bulk form of :meth:`create_first_followup` for leads created in this same transaction
        (nobody else can see them yet, so no lock and no existing follow-up to look for)."""
        now = utcnow()
        tasks = []
        for lead, owner_id, minutes in items:
            due = now + dt.timedelta(minutes=max(0, minutes))
            task = self._new(lead, "task", actor, now, subject=FIRST_FOLLOWUP_SUBJECT)
            task.owner_id, task.due_at, task.remind_at, task.is_first_followup = owner_id, due, due, True
            tasks.append(task)
        await self.repo.add_all(tasks)
        after_commit(self.session, lambda: metrics.ACTIVITIES_CREATED.labels("task").inc(len(tasks)))
        await self.status.change_many(
            [lead for lead, _, _ in items if lead.status == "new"],
            "waiting_for_contact",
            actor,
            reason="follow-up task created",
        )
        return tasks

    async def reassign_open_tasks(
        self, lead_id: uuid.UUID, new_owner: str, previous_owner: str | None = None
    ) -> int:
        """On reassignment: open first follow-ups move to ``new_owner``; so do the open tasks and events
        of ``previous_owner`` when it is given. Returns how many moved."""
        moved = await self.repo.reassign_open(lead_id, new_owner, previous_owner, utcnow())
        return len(moved)

    # --- REST use cases ---------------------------------------------------------------------------
    async def create(self, lead_id: uuid.UUID, data: ActivityCreate, who: Principal) -> Activity:
        lead = await LeadService(self.session).get(lead_id, who)  # 404 when invisible
        lead = await self._lock(lead.id)
        now = utcnow()
        a = self._new(lead, data.kind, who.subject, now, subject=data.subject.strip(), body=data.body)
        if isinstance(data, NoteCreate):
            a.owner_id = who.subject
            a.done_at = now
        elif isinstance(data, TaskCreate):
            a.owner_id = self._owner_for(data.owner_id, lead, who)
            a.due_at = data.due_at
            a.remind_at = self._reminder(data.remind_at, data.remind_minutes_before, data.due_at)
        elif isinstance(data, EventCreate):
            a.owner_id = self._owner_for(data.owner_id, lead, who)
            a.starts_at = data.starts_at
            a.ends_at = data.ends_at or data.starts_at + DEFAULT_EVENT_LENGTH
            a.due_at = data.starts_at
            a.remind_at = self._reminder(data.remind_at, data.remind_minutes_before, data.starts_at)
        elif isinstance(data, CallCreate | EmailCreate):
            a.owner_id = who.subject
            occurred = self._occurred(data.occurred_at, now)
            a.starts_at = a.done_at = occurred
            a.call_direction = data.direction
            if isinstance(data, CallCreate):
                a.call_outcome = data.outcome
                a.duration_seconds = data.duration_seconds
                if data.duration_seconds is not None:
                    a.ends_at = occurred + dt.timedelta(seconds=data.duration_seconds)
        await self.repo.add(a)
        if a.kind in CONTACT_KINDS:
            await self._touched(lead, a, who.subject, now)
        else:
            await self.status.on_followup_created(lead, who.subject)
        after_commit(self.session, metrics.ACTIVITIES_CREATED.labels(a.kind).inc)
        return a

    async def timeline(
        self,
        lead_id: uuid.UUID,
        who: Principal,
        *,
        kinds: Sequence[str] = (),
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[Activity], str | None]:
        await LeadService(self.session).get(lead_id, who)
        after = decode_cursor(cursor) if cursor else None
        rows = await self.repo.timeline(lead_id, kinds=kinds, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (encode_cursor(rows[-1]) if more else None)

    async def get(self, activity_id: uuid.UUID, who: Principal) -> Activity:
        a = await self.repo.get(activity_id)
        if a is None:
            raise ActivityNotFound(f"activity {activity_id} does not exist or is not yours")
        lead = await self.repo.get_lead(a.lead_id)
        self._check_visible(a, lead, who)
        return a

    async def update(self, activity_id: uuid.UUID, data: ActivityUpdate, who: Principal) -> Activity:
        a, lead = await self._load_for_change(activity_id, who)
        sent = data.model_fields_set
        errors: dict[str, str] = {}
        for name in sorted(sent - UPDATABLE[a.kind]):
            errors[name] = f"is not a field of a {a.kind}"
        for name in sorted((sent & UPDATABLE[a.kind]) - NULLABLE):
            if getattr(data, name) is None:
                errors[name] = "must not be null"
        if "remind_at" in sent and "remind_minutes_before" in sent:
            errors["remind_minutes_before"] = "give remind_at or remind_minutes_before, not both"
        if errors:
            raise ValidationFailed(errors)

        now = utcnow()
        if data.subject is not None:
            if a.kind in SCHEDULED_KINDS and not data.subject.strip():
                raise ValidationFailed({"subject": f"a {a.kind} needs a subject"})
            a.subject = data.subject.strip()
        if data.body is not None:
            a.body = data.body
        if data.owner_id is not None and data.owner_id != a.owner_id:
            a.owner_id = self._owner_for(data.owner_id, lead, who)
        if a.kind in SCHEDULED_KINDS:
            self._reschedule(a, data, sent)
        if data.direction is not None:
            a.call_direction = data.direction
        if data.outcome is not None:
            a.call_outcome = data.outcome
        if "occurred_at" in sent and data.occurred_at is not None:
            a.starts_at = a.done_at = self._occurred(data.occurred_at, now)
            self._bump_last_contact(lead, a.starts_at)
        if "duration_seconds" in sent:
            a.duration_seconds = data.duration_seconds
        if a.kind == "call":
            start = a.starts_at or a.created_at
            a.ends_at = start + dt.timedelta(seconds=a.duration_seconds) if a.duration_seconds else None
        a.updated_at = now
        await self.session.flush()
        return a

    async def complete(self, activity_id: uuid.UUID, who: Principal) -> Activity:
        """Mark a task or event done (idempotent); drives waiting_for_contact -> in_progress and, with N
        closed tasks on a qualified lead, -> serious_prospect."""
        a, lead = await self._load_for_change(activity_id, who)
        if a.kind not in SCHEDULED_KINDS:
            raise ActivityNotCompletable(f"a {a.kind} is not a task or an event and cannot be completed")
        if a.done_at is not None:
            return a
        now = utcnow()
        a.done_at = now
        a.updated_at = now
        await self.session.flush()
        closed = await self.repo.closed_task_count(lead.id)
        await self.status.on_task_completed(lead, who.subject, closed)
        return a

    async def delete(self, activity_id: uuid.UUID, who: Principal) -> None:
        """Managers and admins delete any activity they can see; reps only those they wrote (so a rep
        cannot make the system's first follow-up disappear instead of doing it)."""
        a, _ = await self._load_for_change(activity_id, who)
        if not (who.is_admin or who.is_manager) and a.created_by != who.subject:
            raise Forbidden("reps can delete only activities they created")
        await self.repo.delete(a)

    async def closed_task_count(self, lead_id: uuid.UUID) -> int:
        """For whoever flips ``lead.qualified``: pass it to StatusService.maybe_serious."""
        return await self.repo.closed_task_count(lead_id)

    async def agenda(
        self,
        who: Principal,
        *,
        owner_id: str | None = None,
        due_from: dt.datetime | None = None,
        due_to: dt.datetime | None = None,
        now: dt.datetime | None = None,
        limit: int = 200,
    ) -> AgendaOut:
        """Overdue (due before now, from ``due_from`` if given) and upcoming (now until ``due_to``,
        default a week) open tasks and events of one rep. Reps see their own; managers any rep's work on
        their team's leads; admins everyone's."""
        owner = owner_id or who.subject
        if owner != who.subject and not (who.is_admin or who.is_manager):
            raise Forbidden("reps can see only their own agenda")
        now = now or utcnow()
        due_to = due_to or max(now, due_from or now) + DEFAULT_AGENDA_WINDOW
        if due_from is not None:
            if due_from >= due_to:
                raise ValidationFailed({"from": "must be before to"})
            if due_to - due_from > MAX_AGENDA_WINDOW:
                raise ValidationFailed({"to": "the window may span at most 366 days"})
        visible: ColumnElement[bool] | None = None
        if not who.is_admin:
            visible = or_(visible_to(who), Activity.owner_id == who.subject)
        overdue: list[tuple[Activity, Lead]] = []
        upcoming: list[tuple[Activity, Lead]] = []
        if due_from is None or due_from < now:
            overdue = await self.repo.agenda(
                owner,
                visible=visible,
                due_from=due_from,
                due_before=min(now, due_to),
                blocked_statuses=BLOCKED_STATUSES,
                limit=limit,
            )
        if due_to > now:
            upcoming = await self.repo.agenda(
                owner,
                visible=visible,
                due_from=max(now, due_from) if due_from else now,
                due_before=due_to,
                blocked_statuses=BLOCKED_STATUSES,
                limit=limit,
            )

        def item(a: Activity, lead: Lead) -> AgendaItem:
            summary = LeadSummary(id=lead.id, name=lead_name(lead), company=lead.company, status=lead.status)
            return AgendaItem(**self._out(a, now), lead=summary)

        return AgendaOut(
            owner_id=owner,
            now=now,
            overdue=[item(a, lead) for a, lead in overdue],
            upcoming=[item(a, lead) for a, lead in upcoming],
        )

    async def speed_to_lead(
        self, lead_id: uuid.UUID, who: Principal, now: dt.datetime | None = None
    ) -> SpeedToLeadOut:
        lead = await LeadService(self.session).get(lead_id, who)
        now = now or utcnow()
        touched = lead.first_touch_at

        def seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
            return None if start is None or end is None else max(0.0, (end - start).total_seconds())

        return SpeedToLeadOut(
            lead_id=lead.id,
            owner_id=lead.owner_id,
            created_at=lead.created_at,
            assigned_at=lead.assigned_at,
            first_touch_at=touched,
            seconds_to_first_touch=seconds(lead.created_at, touched),
            seconds_from_assignment=seconds(lead.assigned_at, touched),
            waiting_seconds=None if touched else seconds(lead.created_at, now),
        )

    # --- reminders (the beat job) -----------------------------------------------------------------
    async def send_due_reminders(self, now: dt.datetime | None = None, limit: int = 500) -> tuple[int, int]:
        """Claim up to ``limit`` reminders due by ``now``: each is marked sent exactly once; an open
        task/event on a lead that still takes activity gets a crm.leads.activity.reminder_due event in
        the same transaction, the rest (done, or the lead junk/converted/merged) are only marked.
        Returns (claimed, emitted)."""
        now = now or utcnow()
        claimed = await self.repo.claim_due_reminders(now, limit)
        emitted = 0
        for a, lead_status in claimed:
            if a.done_at is not None or lead_status in BLOCKED_STATUSES or lead_status == "":
                continue
            await add_event(
                self.session,
                tables,
                events.ACTIVITY_REMINDER_DUE,
                events.reminder_due(a),
                producer="leads",
                aggregate_id=str(a.lead_id),
            )
            emitted += 1
        if claimed:
            log.info(
                "activity reminders: %d due, %d emitted, %d skipped (done or lead closed)",
                len(claimed),
                emitted,
                len(claimed) - emitted,
            )
            skipped = len(claimed) - emitted
            after_commit(self.session, lambda: metrics.REMINDERS_DUE.labels("emitted").inc(emitted))
            after_commit(self.session, lambda: metrics.REMINDERS_DUE.labels("skipped").inc(skipped))
        return len(claimed), emitted

    # --- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _out(a: Activity, now: dt.datetime) -> dict[str, Any]:
        return ActivityOut.of(a, now).model_dump()

    async def _lock(self, lead_id: uuid.UUID) -> Lead:
        lead = await self.repo.lock_lead(lead_id)
        if lead is None:
            raise LeadNotFound(f"lead {lead_id} does not exist")
        if lead.status in BLOCKED_STATUSES:
            raise LeadClosedForActivity(f"the lead is {lead.status}; it takes no further activity")
        return lead

    async def _load_for_change(self, activity_id: uuid.UUID, who: Principal) -> tuple[Activity, Lead]:
        a = await self.repo.get(activity_id)
        if a is None:
            raise ActivityNotFound(f"activity {activity_id} does not exist or is not yours")
        self._check_visible(a, await self.repo.get_lead(a.lead_id), who)
        lead = await self._lock(a.lead_id)
        fresh = await self.repo.get(activity_id, refresh=True)  # re-read under the lead's lock
        if fresh is None:
            raise ActivityNotFound(f"activity {activity_id} does not exist or is not yours")
        return fresh, lead

    @staticmethod
    def _check_visible(a: Activity, lead: Lead | None, who: Principal) -> None:
        """Visible with its lead (admins all, managers their team's, reps their own), or to its owner."""
        if lead is None or not (who.can_see(lead.owner_id, lead.team) or a.owner_id == who.subject):
            raise ActivityNotFound(f"activity {a.id} does not exist or is not yours")

    @staticmethod
    def _new(
        lead: Lead, kind: str, actor: str, now: dt.datetime, subject: str = "", body: str = ""
    ) -> Activity:
        return new_object(
            Activity,
            id=new_id(),
            lead_id=lead.id,
            kind=kind,
            subject=subject,
            body=body,
            call_direction="",
            call_outcome="",
            is_first_followup=False,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )

    @staticmethod
    def _owner_for(requested: str | None, lead: Lead, who: Principal) -> str:
        owner = requested or lead.owner_id or who.subject
        if owner not in (who.subject, lead.owner_id) and not (who.is_admin or who.is_manager):
            raise Forbidden("reps can schedule work only for themselves or the lead's owner")
        return owner

    @staticmethod
    def _reminder(
        remind_at: dt.datetime | None, minutes_before: int | None, due: dt.datetime
    ) -> dt.datetime | None:
        if remind_at is not None:
            return remind_at
        if minutes_before is not None:
            return due - dt.timedelta(minutes=minutes_before)
        return None

    @staticmethod
    def _occurred(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        if value is None:
            return now
        if value > now + CLOCK_SKEW:
            raise ValidationFailed({"occurred_at": "must not be in the future"})
        return value

    def _reschedule(self, a: Activity, data: ActivityUpdate, sent: set[str]) -> None:
        """Move a task's due time or an event's start/end; an existing reminder keeps its offset to the
        due time, and a reminder that changes fires again."""
        old_due = a.due_at
        if a.kind == "task" and data.due_at is not None:
            a.due_at = data.due_at
        if a.kind == "event":
            starts = data.starts_at or a.starts_at
            if "ends_at" in sent:
                ends = data.ends_at or (starts + DEFAULT_EVENT_LENGTH if starts else None)
            elif data.starts_at is not None and a.starts_at is not None and a.ends_at is not None:
                ends = data.starts_at + (a.ends_at - a.starts_at)  # keep the length
            else:
                ends = a.ends_at
            if starts is not None and ends is not None and ends < starts:
                raise ValidationFailed({"ends_at": "must not be before starts_at"})
            a.starts_at, a.ends_at, a.due_at = starts, ends, starts
        new_remind = a.remind_at
        if "remind_at" in sent:
            new_remind = data.remind_at
        elif "remind_minutes_before" in sent:
            minutes = data.remind_minutes_before
            new_remind = (
                None if minutes is None or a.due_at is None else a.due_at - dt.timedelta(minutes=minutes)
            )
        elif a.remind_at is not None and old_due is not None and a.due_at is not None and a.due_at != old_due:
            new_remind = a.remind_at + (a.due_at - old_due)
        if new_remind != a.remind_at:
            a.remind_at = new_remind
            a.reminder_sent_at = None

    @staticmethod
    def _bump_last_contact(lead: Lead, at: dt.datetime) -> None:
        if lead.last_contact_at is None or at > lead.last_contact_at:
            lead.last_contact_at = at

    async def _touched(self, lead: Lead, a: Activity, actor: str, now: dt.datetime) -> None:
        """A call, e-mail or note: last contact moves; the owner's first one is the lead's first touch
        (speed-to-lead, observed once after commit); a call/e-mail revives a forgotten lead."""
        self._bump_last_contact(lead, a.done_at or now)
        if lead.first_touch_at is None and lead.owner_id and actor == lead.owner_id:
            lead.first_touch_at = now
            seconds = max(0.0, (now - lead.created_at).total_seconds())
            channel = lead.intake_channel or "unknown"
            after_commit(self.session, lambda: metrics.SPEED_TO_LEAD.labels(channel).observe(seconds))
        if lead.status == "forgotten" and a.kind in REVIVING_KINDS:
            await self.status.change(
                lead, "in_progress", actor, reason=f"{a.kind} logged on a forgotten lead"
            )
        await self.session.flush()
