"""Activity request/response shapes: the kind-discriminated body, validators and the output view."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from crm_leads.activities.models import Activity
from crm_leads.activities.schemas import (
    ActivityCreate,
    ActivityOut,
    ActivityUpdate,
    CallCreate,
    EventCreate,
    NoteCreate,
    TaskCreate,
)
from pydantic import TypeAdapter, ValidationError

create = TypeAdapter(ActivityCreate)
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def errors(body: dict) -> set[str]:
    with pytest.raises(ValidationError) as info:
        create.validate_python(body)
    return {".".join(str(p) for p in e["loc"]) for e in info.value.errors()}


def test_kind_selects_the_model():
    assert isinstance(create.validate_python({"kind": "note", "body": "x"}), NoteCreate)
    task = create.validate_python({"kind": "task", "subject": "Call", "due_at": "2026-11-26T10:00:00+03:30"})
    assert isinstance(task, TaskCreate)
    assert task.due_at == dt.datetime(2026, 11, 26, 6, 30, tzinfo=dt.UTC)
    call = create.validate_python({"kind": "call", "direction": "inbound", "outcome": "voicemail"})
    assert isinstance(call, CallCreate) and call.occurred_at is None


def test_each_kind_requires_its_own_fields():
    assert errors({"kind": "task", "subject": "x"}) == {"task.due_at"}
    assert errors({"kind": "task", "due_at": NOW.isoformat()}) == {"task.subject"}
    assert errors({"kind": "event", "subject": "x"}) == {"event.starts_at"}
    assert errors({"kind": "call", "direction": "outbound"}) == {"call.outcome"}
    assert errors({"kind": "email"}) == {"email.direction"}
    assert errors({"kind": "note", "body": ""}) == {"note.body"}


def test_times_must_carry_a_zone_and_fields_must_fit_the_kind():
    assert errors({"kind": "task", "subject": "x", "due_at": "2026-11-26T10:00:00"}) == {"task.due_at"}
    assert errors({"kind": "note", "body": "x", "due_at": NOW.isoformat()}) == {"note.due_at"}
    assert errors({"kind": "call", "direction": "in", "outcome": "answered"}) == {"call.direction"}
    assert errors(
        {"kind": "call", "direction": "inbound", "outcome": "answered", "duration_seconds": -1}
    ) == {"call.duration_seconds"}
    with pytest.raises(ValidationError) as info:
        create.validate_python({"kind": "meeting"})
    assert info.value.errors()[0]["type"] == "union_tag_invalid"


def test_event_end_and_reminder_rules():
    start = NOW.isoformat()
    before = (NOW - dt.timedelta(minutes=1)).isoformat()
    assert errors({"kind": "event", "subject": "x", "starts_at": start, "ends_at": before}) == {"event"}
    ok = create.validate_python({"kind": "event", "subject": "x", "starts_at": start, "ends_at": start})
    assert isinstance(ok, EventCreate)
    both = {"kind": "task", "subject": "x", "due_at": start, "remind_at": start, "remind_minutes_before": 5}
    assert errors(both) == {"task"}
    assert errors({"kind": "task", "subject": "x", "due_at": start, "remind_minutes_before": 10**6}) == {
        "task.remind_minutes_before"
    }


def test_update_knows_which_fields_were_sent():
    patch = ActivityUpdate.model_validate({"remind_at": None, "subject": "y"})
    assert patch.model_fields_set == {"remind_at", "subject"}
    with pytest.raises(ValidationError):
        ActivityUpdate.model_validate({"kind": "task"})


def activity(**kw) -> Activity:
    values = dict(
        id=uuid.uuid4(),
        lead_id=uuid.uuid4(),
        kind="task",
        subject="s",
        body="",
        owner_id="rep-1",
        created_by="rep-1",
        call_direction="",
        call_outcome="",
        is_first_followup=False,
        created_at=NOW - dt.timedelta(days=1),
        updated_at=NOW - dt.timedelta(days=1),
    )
    values.update(kw)
    return Activity(**values)


def test_output_marks_open_past_due_work_overdue_only():
    assert ActivityOut.of(activity(due_at=NOW - dt.timedelta(minutes=1)), NOW).overdue
    assert not ActivityOut.of(activity(due_at=NOW + dt.timedelta(minutes=1)), NOW).overdue
    done = activity(due_at=NOW - dt.timedelta(minutes=1), done_at=NOW)
    assert not ActivityOut.of(done, NOW).overdue
    assert not ActivityOut.of(activity(kind="note", due_at=None), NOW).overdue


def test_output_maps_the_call_columns_and_occurred_at():
    started = NOW - dt.timedelta(hours=1)
    out = ActivityOut.of(
        activity(
            kind="call", call_direction="outbound", call_outcome="busy", starts_at=started, done_at=started
        ),
        NOW,
    )
    assert (out.direction, out.outcome, out.occurred_at) == ("outbound", "busy", started)
    note = ActivityOut.of(activity(kind="note"), NOW)
    assert note.direction is None and note.outcome is None and note.occurred_at == NOW - dt.timedelta(days=1)
    assert ActivityOut.of(activity(due_at=NOW), NOW).occurred_at is None


def test_text_and_times_that_postgresql_or_datetime_cannot_take_are_refused():
    assert errors({"kind": "note", "body": "a\x00b"}) == {"note.body"}
    assert errors({"kind": "note", "body": "\ud800"}) == {"note.body"}
    assert errors({"kind": "task", "subject": "x", "due_at": "0001-01-01T00:00:00+03:30"}) == {"task.due_at"}
    assert errors({"kind": "event", "subject": "x", "starts_at": "9999-12-31T23:59:59Z"}) == {
        "event.starts_at"
    }
    with pytest.raises(ValidationError):
        ActivityUpdate.model_validate({"owner_id": "rep\x00"})
