"""Pure parts of the activities service: cursors, reminders, rescheduling, owner rules, metrics."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from crm_leads.activities import metrics
from crm_leads.activities.models import Activity
from crm_leads.activities.schemas import ActivityUpdate
from crm_leads.activities.service import (
    ActivityService,
    after_commit,
    decode_cursor,
    encode_cursor,
    lead_name,
)
from crm_leads.leads.models import Lead
from crm_platform.auth import Principal
from crm_platform.errors import Forbidden, ValidationFailed
from sqlalchemy.ext.asyncio import AsyncSession

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
REP = Principal("rep-1", frozenset({"rep"}), "t1")
MANAGER = Principal("m1", frozenset({"manager"}), "t1")


def task(**kw) -> Activity:
    values = dict(id=uuid.uuid4(), lead_id=uuid.uuid4(), kind="task", created_at=NOW, owner_id="rep-1")
    values.update(kw)
    return Activity(**values)


def test_cursor_round_trip_and_garbage():
    a = task(created_at=NOW.replace(microsecond=123456))
    assert decode_cursor(encode_cursor(a)) == (a.created_at, a.id)
    ancient = encode_cursor(task(created_at=dt.datetime(1, 1, 1, tzinfo=dt.UTC)))
    for bad in ("", "!!!", "bm90IGEgY3Vyc29y", encode_cursor(a)[:-3], ancient):
        with pytest.raises(ValidationFailed) as info:
            decode_cursor(bad)
        assert set(info.value.field_errors) == {"cursor"}


def test_reminder_is_absolute_or_relative_to_the_due_time():
    r = ActivityService._reminder
    assert r(None, None, NOW) is None
    assert r(NOW, None, NOW + dt.timedelta(hours=1)) == NOW
    assert r(None, 15, NOW) == NOW - dt.timedelta(minutes=15)


def test_occurred_at_may_not_lie_in_the_future_beyond_clock_skew():
    o = ActivityService._occurred
    assert o(None, NOW) == NOW
    assert o(NOW - dt.timedelta(days=3), NOW) == NOW - dt.timedelta(days=3)
    assert o(NOW + dt.timedelta(minutes=4), NOW) == NOW + dt.timedelta(minutes=4)
    with pytest.raises(ValidationFailed):
        o(NOW + dt.timedelta(minutes=6), NOW)


def reschedule(a: Activity, **patch) -> Activity:
    data = ActivityUpdate.model_validate(patch)
    ActivityService._reschedule(ActivityService.__new__(ActivityService), a, data, data.model_fields_set)
    return a


def test_moving_a_task_keeps_its_reminder_offset_and_rearms_it():
    due = NOW + dt.timedelta(hours=2)
    a = task(due_at=due, remind_at=due - dt.timedelta(minutes=30), reminder_sent_at=NOW)
    reschedule(a, due_at=(due + dt.timedelta(days=1)).isoformat())
    assert a.due_at == due + dt.timedelta(days=1)
    assert a.remind_at == a.due_at - dt.timedelta(minutes=30)
    assert a.reminder_sent_at is None


def test_an_unchanged_reminder_stays_sent_and_a_cleared_one_is_gone():
    due = NOW + dt.timedelta(hours=2)
    a = task(due_at=due, remind_at=NOW, reminder_sent_at=NOW)
    reschedule(a, remind_at=NOW.isoformat())
    assert a.reminder_sent_at == NOW
    reschedule(a, remind_minutes_before=60)
    assert a.remind_at == due - dt.timedelta(hours=1) and a.reminder_sent_at is None
    reschedule(a, remind_at=None)
    assert a.remind_at is None


def test_moving_an_event_keeps_its_length_and_its_due_time_is_its_start():
    start = NOW + dt.timedelta(days=1)
    a = task(kind="event", starts_at=start, ends_at=start + dt.timedelta(hours=2), due_at=start)
    moved = start + dt.timedelta(days=2)
    reschedule(a, starts_at=moved.isoformat())
    assert (a.starts_at, a.ends_at, a.due_at) == (moved, moved + dt.timedelta(hours=2), moved)
    reschedule(a, ends_at=None)
    assert a.ends_at == moved + dt.timedelta(minutes=30)
    with pytest.raises(ValidationFailed):
        reschedule(a, ends_at=(moved - dt.timedelta(seconds=1)).isoformat())


def test_reps_schedule_only_for_themselves_or_the_lead_owner():
    lead = Lead(owner_id="rep-1", team="t1")
    own = ActivityService._owner_for
    assert own(None, lead, REP) == "rep-1"
    assert own(None, Lead(owner_id=None, team="t1"), MANAGER) == "m1"
    assert own(None, Lead(owner_id="rep-7", team="t1"), MANAGER) == "rep-7"
    assert own("rep-9", lead, MANAGER) == "rep-9"
    with pytest.raises(Forbidden):
        own("rep-9", lead, REP)
    assert own("rep-1", Lead(owner_id="rep-1", team="t1"), Principal("rep-2", frozenset({"rep"}))) == "rep-1"


def test_lead_name_falls_back_to_the_company():
    assert lead_name(Lead(first_name="Ali", last_name="", company="Acme")) == "Ali"
    assert lead_name(Lead(first_name="", last_name="", company="Acme")) == "Acme"


def test_speed_to_lead_buckets_span_one_minute_to_seven_days():
    assert metrics.SPEED_TO_LEAD_BUCKETS[0] == 60
    assert metrics.SPEED_TO_LEAD_BUCKETS[-1] == 7 * 24 * 3600
    assert list(metrics.SPEED_TO_LEAD_BUCKETS) == sorted(metrics.SPEED_TO_LEAD_BUCKETS)


async def test_after_commit_actions_run_on_commit_and_are_dropped_on_rollback():
    ran: list[str] = []
    async with AsyncSession() as session:
        await session.begin()
        after_commit(session, lambda: ran.append("a"))
        after_commit(session, lambda: ran.append("b"))
        await session.rollback()
        assert ran == []
        await session.begin()
        after_commit(session, lambda: ran.append("c"))
        await session.commit()
        assert ran == ["c"]
        await session.begin()
        await session.commit()
        assert ran == ["c"]  # once
