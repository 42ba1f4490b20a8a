"""REST shapes of activities: a create body discriminated by ``kind``, a partial update, the timeline,
the agenda and speed-to-lead."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from crm_platform.fields import plausible_time, storable_text
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from crm_leads.activities.models import Activity

Direction = Literal["inbound", "outbound"]
CallOutcome = Literal["answered", "no_answer", "busy", "voicemail", "wrong_number", "failed"]
Kind = Literal["note", "task", "event", "call", "email"]


Text = Annotated[str, AfterValidator(storable_text)]
When = Annotated[AwareDatetime, AfterValidator(plausible_time)]
Subject = Annotated[Text, Field(max_length=300)]
Body = Annotated[Text, Field(max_length=20000)]
OwnerId = Annotated[Text, Field(min_length=1, max_length=100)]
REMIND_MAX_MINUTES = 60 * 24 * 28  # four weeks


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Reminder(_In):
    remind_at: When | None = Field(None, description="absolute reminder time")
    remind_minutes_before: int | None = Field(
        None, ge=0, le=REMIND_MAX_MINUTES, description="reminder relative to the due/start time"
    )

    @model_validator(mode="after")
    def _one_reminder(self) -> _Reminder:
        if self.remind_at is not None and self.remind_minutes_before is not None:
            raise ValueError("give remind_at or remind_minutes_before, not both")
        return self


class NoteCreate(_In):
    kind: Literal["note"]
    subject: Subject = ""
    body: Body = Field(min_length=1)


class TaskCreate(_Reminder):
    kind: Literal["task"]
    subject: Subject = Field(min_length=1)
    body: Body = ""
    due_at: When
    owner_id: OwnerId | None = Field(None, description="default: the lead's owner, else the caller")


class EventCreate(_Reminder):
    kind: Literal["event"]
    subject: Subject = Field(min_length=1)
    body: Body = ""
    starts_at: When
    ends_at: When | None = Field(None, description="default: 30 minutes after starts_at")
    owner_id: OwnerId | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> EventCreate:
        if self.ends_at is not None and self.ends_at < self.starts_at:
            raise ValueError("ends_at must not be before starts_at")
        return self


class CallCreate(_In):
    kind: Literal["call"]
    direction: Direction
    outcome: CallOutcome
    duration_seconds: int | None = Field(None, ge=0, le=86400)
    occurred_at: When | None = Field(None, description="when the call started; default now")
    subject: Subject = ""
    body: Body = ""


class EmailCreate(_In):
    kind: Literal["email"]
    direction: Direction
    occurred_at: When | None = Field(None, description="when it was sent/received; default now")
    subject: Subject = ""
    body: Body = ""


ActivityCreate = Annotated[
    NoteCreate | TaskCreate | EventCreate | CallCreate | EmailCreate, Field(discriminator="kind")
]


class ActivityUpdate(_In):
    """Partial update: only the fields sent change; fields must fit the activity's kind."""

    subject: Subject | None = None
    body: Body | None = None
    owner_id: OwnerId | None = None
    due_at: When | None = None
    starts_at: When | None = None
    ends_at: When | None = None
    remind_at: When | None = None
    remind_minutes_before: int | None = Field(None, ge=0, le=REMIND_MAX_MINUTES)
    direction: Direction | None = None
    outcome: CallOutcome | None = None
    duration_seconds: int | None = Field(None, ge=0, le=86400)
    occurred_at: When | None = None


class ActivityOut(BaseModel):
    id: uuid.UUID
    lead_id: uuid.UUID
    kind: Kind
    subject: str
    body: str
    owner_id: str | None
    created_by: str
    due_at: dt.datetime | None
    done_at: dt.datetime | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    occurred_at: dt.datetime | None = Field(description="calls, e-mails and notes: when it happened")
    remind_at: dt.datetime | None
    reminder_sent_at: dt.datetime | None
    direction: Direction | None
    outcome: CallOutcome | None
    duration_seconds: int | None
    is_first_followup: bool
    overdue: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, a: Activity, now: dt.datetime) -> ActivityOut:
        scheduled = a.kind in ("task", "event")
        return cls(
            id=a.id,
            lead_id=a.lead_id,
            kind=a.kind,  # type: ignore[arg-type]
            subject=a.subject,
            body=a.body,
            owner_id=a.owner_id,
            created_by=a.created_by,
            due_at=a.due_at,
            done_at=a.done_at,
            starts_at=a.starts_at,
            ends_at=a.ends_at,
            occurred_at=None if scheduled else (a.starts_at or a.created_at),
            remind_at=a.remind_at,
            reminder_sent_at=a.reminder_sent_at,
            direction=a.call_direction or None,  # type: ignore[arg-type]
            outcome=a.call_outcome or None,  # type: ignore[arg-type]
            duration_seconds=a.duration_seconds,
            is_first_followup=a.is_first_followup,
            overdue=scheduled and a.done_at is None and a.due_at is not None and a.due_at < now,
            created_at=a.created_at,
            updated_at=a.updated_at,
        )


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None = Field(None, description="pass as ?cursor= for the next (older) page")


class LeadSummary(BaseModel):
    id: uuid.UUID
    name: str
    company: str
    status: str


class AgendaItem(ActivityOut):
    lead: LeadSummary


class AgendaOut(BaseModel):
    owner_id: str
    now: dt.datetime
    overdue: list[AgendaItem] = Field(description="open tasks/events due before now, oldest first")
    upcoming: list[AgendaItem] = Field(description="open tasks/events due from now until `to`, soonest first")


class SpeedToLeadOut(BaseModel):
    lead_id: uuid.UUID
    owner_id: str | None
    created_at: dt.datetime
    assigned_at: dt.datetime | None
    first_touch_at: dt.datetime | None
    seconds_to_first_touch: float | None = Field(description="from intake (created_at) to first touch")
    seconds_from_assignment: float | None = Field(description="from assignment to first touch")
    waiting_seconds: float | None = Field(description="not touched yet: time since intake")
