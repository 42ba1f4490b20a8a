"""Follow-up work on real PostgreSQL and NATS: activities, agenda, speed-to-lead, status automation
driven by tasks, junk leads refusing activity, and due reminders through a real Celery worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

from crm.leads.v1 import events_pb2, leads_pb2
from crm_leads.activities.events import ACTIVITY_REMINDER_DUE
from crm_leads.activities.models import Activity
from crm_leads.activities.service import ActivityService
from crm_leads.app import definition
from crm_leads.db import tables
from crm_leads.leads.models import Lead
from crm_platform.testing.harness import eventually
from prometheus_client import REGISTRY
from sqlalchemy import select, update

PROBLEM = "application/problem+json"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(when: dt.datetime) -> str:
    return when.isoformat()


async def new_lead(leads, owner: str | None = "rep-1", team: str = "t1", **fields) -> str:
    """A lead in status new without any activity, owned by ``owner``: created by an admin (no rule
    matches, so nobody is assigned and no follow-up exists) and then given its owner directly."""
    body = {"first_name": "Ali", "last_name": "Rezaei", "company": "Acme", **fields}
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth("admin", sub="admin", team=team))
    assert r.status_code == 201, r.text
    lead = r.json()
    assert lead["status"] == "new" and lead["owner_id"] is None
    if owner:
        await set_lead(leads, lead["id"], owner_id=owner, team=team, assigned_at=utcnow())
    return lead["id"]


async def lead_row(leads, lead_id: str) -> Lead:
    async with leads.runtime.sessions() as s:
        lead = await s.get(Lead, uuid.UUID(lead_id))
        assert lead is not None
        return lead


async def set_lead(leads, lead_id: str, **values) -> None:
    async with leads.runtime.unit_of_work() as s:
        await s.execute(update(Lead).where(Lead.id == uuid.UUID(lead_id)).values(**values))


async def status_events(leads, lead_id: str) -> list[tuple[int, int]]:
    async with leads.runtime.sessions() as s:
        rows = (
            await s.execute(
                select(tables.outbox)
                .where(tables.outbox.c.subject == "crm.leads.lead.status_changed")
                .order_by(tables.outbox.c.seq)
            )
        ).all()
    changes = [events_pb2.LeadStatusChanged.FromString(r.payload) for r in rows]
    return [(c.old_status, c.new_status) for c in changes if c.lead_id == lead_id]


async def post_activity(leads, lead_id: str, body: dict, role: str = "rep", sub: str = "rep-1", team="t1"):
    return await leads.http.post(
        f"/api/v1/leads/{lead_id}/activities", json=body, headers=leads.auth(role, sub=sub, team=team)
    )


# --- the assignment engine's entry points ---------------------------------------------------------


async def test_first_followup_is_created_once_for_the_owner_and_moves_the_lead_to_waiting(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads, owner="rep-1")
    before = utcnow()
    async with leads.runtime.unit_of_work() as s:
        lead = await s.get(Lead, uuid.UUID(lead_id))
        task = await ActivityService(s).create_first_followup(lead, "rep-1", 45)
        again = await ActivityService(s).create_first_followup(lead, "rep-1", 45)
        assert again.id == task.id
        assert lead.status == "waiting_for_contact"

    assert task.kind == "task" and task.is_first_followup and task.owner_id == "rep-1"
    assert task.subject == "Call the new lead" and task.created_by == "system"
    assert before + dt.timedelta(minutes=45) <= task.due_at <= utcnow() + dt.timedelta(minutes=45)
    assert task.remind_at == task.due_at
    assert (await lead_row(leads, lead_id)).status == "waiting_for_contact"
    assert await status_events(leads, lead_id) == [
        (leads_pb2.LEAD_STATUS_NEW, leads_pb2.LEAD_STATUS_WAITING_FOR_CONTACT)
    ]

    r = await leads.http.get("/api/v1/agenda", headers=leads.auth("rep", sub="rep-1"))
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["upcoming"]] == [str(task.id)]
    assert r.json()["upcoming"][0]["lead"]["name"] == "Ali Rezaei"


async def test_reassignment_moves_open_first_followups_and_the_previous_owners_open_work(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads, owner="rep-1")
    async with leads.runtime.unit_of_work() as s:
        lead = await s.get(Lead, uuid.UUID(lead_id))
        first = await ActivityService(s).create_first_followup(lead, "rep-1", 10)
    due = iso(utcnow() + dt.timedelta(days=1))
    own = await post_activity(leads, lead_id, {"kind": "task", "subject": "Send offer", "due_at": due})
    done = await post_activity(leads, lead_id, {"kind": "task", "subject": "Old", "due_at": due})
    r = await leads.http.post(
        f"/api/v1/activities/{done.json()['id']}:complete", headers=leads.auth("rep", sub="rep-1")
    )
    assert r.status_code == 200, r.text

    # only the first follow-up moves when the previous owner is not named
    async with leads.runtime.unit_of_work() as s:
        assert await ActivityService(s).reassign_open_tasks(uuid.UUID(lead_id), "rep-2") == 1
    async with leads.runtime.unit_of_work() as s:
        moved = await ActivityService(s).reassign_open_tasks(uuid.UUID(lead_id), "rep-3", "rep-1")
        assert moved == 2  # the first follow-up (now rep-2's) and rep-1's open task
    async with leads.runtime.sessions() as s:
        owners = dict(
            (await s.execute(select(Activity.id, Activity.owner_id).where(Activity.lead_id == lead_id))).all()
        )
    assert owners[first.id] == "rep-3"
    assert owners[uuid.UUID(own.json()["id"])] == "rep-3"
    assert owners[uuid.UUID(done.json()["id"])] == "rep-1"  # done work stays with who did it


async def test_a_reps_own_lead_gets_its_first_followup_at_intake(crm):
    leads = await crm.start(definition)
    r = await leads.http.post(
        "/api/v1/leads", json={"company": "Acme"}, headers=leads.auth("rep", sub="rep-1")
    )
    assert r.status_code == 201, r.text
    lead_id = r.json()["id"]
    r = await leads.http.get(f"/api/v1/leads/{lead_id}/activities", headers=leads.auth("rep", sub="rep-1"))
    assert r.status_code == 200, r.text
    [task] = r.json()["items"]
    assert task["kind"] == "task" and task["is_first_followup"] and task["owner_id"] == "rep-1"
    assert (await lead_row(leads, lead_id)).status == "waiting_for_contact"


# --- the five kinds, the timeline, validation -----------------------------------------------------


async def test_notes_tasks_events_calls_and_emails_and_the_timeline_newest_first(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    now = utcnow()
    due = now + dt.timedelta(days=1)
    start = now + dt.timedelta(days=2)

    note = await post_activity(leads, lead_id, {"kind": "note", "body": "Wants a demo"})
    task = await post_activity(
        leads,
        lead_id,
        {"kind": "task", "subject": "Send pricing", "due_at": iso(due), "remind_minutes_before": 15},
    )
    event = await post_activity(
        leads,
        lead_id,
        {
            "kind": "event",
            "subject": "Demo",
            "starts_at": iso(start),
            "remind_at": iso(start - dt.timedelta(hours=1)),
        },
    )
    call = await post_activity(
        leads,
        lead_id,
        {
            "kind": "call",
            "direction": "outbound",
            "outcome": "answered",
            "duration_seconds": 125,
            "occurred_at": iso(now - dt.timedelta(minutes=10)),
            "body": "Talked to the CTO",
        },
    )
    email = await post_activity(
        leads, lead_id, {"kind": "email", "direction": "inbound", "subject": "Re: pricing", "body": "Thanks"}
    )
    for r in (note, task, event, call, email):
        assert r.status_code == 201, r.text

    n, t, e, c, m = (r.json() for r in (note, task, event, call, email))
    assert n["owner_id"] == "rep-1" and n["created_by"] == "rep-1" and n["occurred_at"] and not n["overdue"]
    assert dt.datetime.fromisoformat(t["due_at"]) == due
    assert dt.datetime.fromisoformat(t["remind_at"]) == due - dt.timedelta(minutes=15)
    assert t["done_at"] is None and t["owner_id"] == "rep-1" and t["occurred_at"] is None
    assert dt.datetime.fromisoformat(e["starts_at"]) == start
    assert dt.datetime.fromisoformat(e["ends_at"]) == start + dt.timedelta(minutes=30)  # default length
    assert dt.datetime.fromisoformat(e["due_at"]) == start  # the agenda sorts events by their start
    assert dt.datetime.fromisoformat(e["remind_at"]) == start - dt.timedelta(hours=1)
    assert c["direction"] == "outbound" and c["outcome"] == "answered" and c["duration_seconds"] == 125
    assert dt.datetime.fromisoformat(c["ends_at"]) - dt.datetime.fromisoformat(
        c["starts_at"]
    ) == dt.timedelta(seconds=125)
    assert dt.datetime.fromisoformat(c["occurred_at"]) == now - dt.timedelta(minutes=10)
    assert m["direction"] == "inbound" and m["outcome"] is None

    path = f"/api/v1/leads/{lead_id}/activities"
    auth = leads.auth("rep", sub="rep-1")
    r = await leads.http.get(path, headers=auth)
    assert r.status_code == 200, r.text
    assert [i["kind"] for i in r.json()["items"]] == ["email", "call", "event", "task", "note"]
    assert r.json()["next_cursor"] is None

    r = await leads.http.get(path, params={"kind": ["call", "email"]}, headers=auth)
    assert [i["kind"] for i in r.json()["items"]] == ["email", "call"]

    pages: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await leads.http.get(path, params=params, headers=auth)
        assert r.status_code == 200, r.text
        pages += [i["kind"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == ["email", "call", "event", "task", "note"]
    r = await leads.http.get(path, params={"cursor": "bogus"}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"

    r = await leads.http.get(f"/api/v1/activities/{t['id']}", headers=auth)
    assert r.status_code == 200 and r.json()["subject"] == "Send pricing"


async def test_invalid_activities_are_422_problems_with_field_errors(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    future = iso(utcnow() + dt.timedelta(days=1))

    async def fields(body: dict) -> set[str]:
        r = await post_activity(leads, lead_id, body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        return {e["field"] for e in r.json()["errors"]}

    for no_such_kind in ({"body": "no kind"}, {"kind": "fax"}):
        r = await post_activity(leads, lead_id, no_such_kind)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert "task.due_at" in await fields({"kind": "task", "subject": "x"})
    assert "task.due_at" in await fields({"kind": "task", "subject": "x", "due_at": "2030-01-01T10:00:00"})
    assert await fields({"kind": "note", "body": ""}) == {"note.body"}
    assert await fields({"kind": "call", "direction": "sideways", "outcome": "answered"}) == {
        "call.direction"
    }
    bad_event = {"kind": "event", "subject": "x", "starts_at": future, "ends_at": iso(utcnow())}
    assert await fields(bad_event) == {"event"}
    both = {"kind": "task", "subject": "x", "due_at": future, "remind_at": future, "remind_minutes_before": 5}
    assert await fields(both) == {"task"}
    r = await post_activity(leads, lead_id, {"kind": "email", "direction": "outbound", "occurred_at": future})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "occurred_at"
    r = await post_activity(leads, lead_id, {"kind": "note", "body": "x", "due_at": future})
    assert r.status_code == 422  # extra fields are refused

    note = (await post_activity(leads, lead_id, {"kind": "note", "body": "x"})).json()
    auth = leads.auth("rep", sub="rep-1")
    r = await leads.http.patch(f"/api/v1/activities/{note['id']}", json={"due_at": future}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"] == [
        {"field": "due_at", "message": "is not a field of a note", "code": "invalid"}
    ]
    r = await leads.http.post(f"/api/v1/activities/{note['id']}:complete", headers=auth)
    assert r.status_code == 409 and r.json()["type"].endswith("/activity-not-completable")
    task = (await post_activity(leads, lead_id, {"kind": "task", "subject": "x", "due_at": future})).json()
    r = await leads.http.patch(f"/api/v1/activities/{task['id']}", json={"due_at": None}, headers=auth)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "due_at"
    r = await leads.http.get(f"/api/v1/activities/{uuid.uuid4()}", headers=auth)
    assert r.status_code == 404 and r.json()["type"].endswith("/activity-not-found")
    r = await post_activity(leads, str(uuid.uuid4()), {"kind": "note", "body": "x"})
    assert r.status_code == 404
    # what PostgreSQL or datetime arithmetic could not take is a 422, never a 500
    assert await fields({"kind": "note", "body": "nul\u0000byte"}) == {"note.body"}
    far = {"kind": "task", "subject": "x", "due_at": "9999-12-31T23:59:59Z", "remind_minutes_before": 5}
    assert await fields(far) == {"task.due_at"}
    r = await leads.http.get("/api/v1/agenda", params={"owner_id": "a\x00b"}, headers=auth)
    assert r.status_code == 422


async def test_patch_reschedules_and_keeps_the_reminder_offset(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    auth = leads.auth("rep", sub="rep-1")
    due = utcnow() + dt.timedelta(hours=3)
    task = (
        await post_activity(
            leads,
            lead_id,
            {"kind": "task", "subject": "Call", "due_at": iso(due), "remind_minutes_before": 30},
        )
    ).json()
    later = due + dt.timedelta(days=1)
    r = await leads.http.patch(
        f"/api/v1/activities/{task['id']}", json={"due_at": iso(later), "subject": "Call again"}, headers=auth
    )
    assert r.status_code == 200, r.text
    assert r.json()["subject"] == "Call again"
    assert dt.datetime.fromisoformat(r.json()["remind_at"]) == later - dt.timedelta(minutes=30)
    r = await leads.http.patch(f"/api/v1/activities/{task['id']}", json={"remind_at": None}, headers=auth)
    assert r.status_code == 200 and r.json()["remind_at"] is None

    start = utcnow() + dt.timedelta(days=2)
    event = (
        await post_activity(
            leads,
            lead_id,
            {
                "kind": "event",
                "subject": "Demo",
                "starts_at": iso(start),
                "ends_at": iso(start + dt.timedelta(hours=2)),
            },
        )
    ).json()
    moved = start + dt.timedelta(days=1)
    r = await leads.http.patch(
        f"/api/v1/activities/{event['id']}", json={"starts_at": iso(moved)}, headers=auth
    )
    assert r.status_code == 200, r.text
    assert dt.datetime.fromisoformat(r.json()["ends_at"]) == moved + dt.timedelta(hours=2)  # length kept
    assert dt.datetime.fromisoformat(r.json()["due_at"]) == moved
    r = await leads.http.patch(
        f"/api/v1/activities/{event['id']}",
        json={"ends_at": iso(moved - dt.timedelta(hours=1))},
        headers=auth,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "ends_at"

    call = (
        await post_activity(leads, lead_id, {"kind": "call", "direction": "inbound", "outcome": "no_answer"})
    ).json()
    r = await leads.http.patch(
        f"/api/v1/activities/{call['id']}", json={"outcome": "answered", "duration_seconds": 60}, headers=auth
    )
    assert r.status_code == 200 and r.json()["outcome"] == "answered"
    assert dt.datetime.fromisoformat(r.json()["ends_at"]) - dt.datetime.fromisoformat(
        r.json()["starts_at"]
    ) == dt.timedelta(seconds=60)


# --- roles ----------------------------------------------------------------------------------------


async def test_activities_follow_the_leads_visibility_rules(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads, owner="rep-1", team="t1")
    due = iso(utcnow() + dt.timedelta(days=1))
    task = (await post_activity(leads, lead_id, {"kind": "task", "subject": "x", "due_at": due})).json()
    path = f"/api/v1/leads/{lead_id}/activities"

    other_rep = leads.auth("rep", sub="rep-2", team="t1")
    assert (await leads.http.get(path, headers=other_rep)).status_code == 404
    assert (
        await post_activity(leads, lead_id, {"kind": "note", "body": "x"}, sub="rep-2")
    ).status_code == 404
    for method, url in (
        ("GET", f"/api/v1/activities/{task['id']}"),
        ("PATCH", f"/api/v1/activities/{task['id']}"),
        ("POST", f"/api/v1/activities/{task['id']}:complete"),
        ("DELETE", f"/api/v1/activities/{task['id']}"),
    ):
        r = await leads.http.request(method, url, headers=other_rep, json={} if method == "PATCH" else None)
        assert r.status_code == 404, (method, url, r.text)
    assert (
        await leads.http.get(f"/api/v1/leads/{lead_id}/speed-to-lead", headers=other_rep)
    ).status_code == 404

    other_manager = leads.auth("manager", sub="m2", team="t2")
    assert (await leads.http.get(path, headers=other_manager)).status_code == 404
    manager = leads.auth("manager", sub="m1", team="t1")
    assert (await leads.http.get(path, headers=manager)).status_code == 200
    assert (await leads.http.get(path, headers=leads.auth("admin", team="elsewhere"))).status_code == 200

    # reps schedule work for themselves or the lead's owner; managers for anyone
    r = await post_activity(
        leads, lead_id, {"kind": "task", "subject": "x", "due_at": due, "owner_id": "rep-9"}
    )
    assert r.status_code == 403 and r.json()["type"].endswith("/forbidden")
    r = await post_activity(
        leads, lead_id, {"kind": "task", "subject": "x", "due_at": due, "owner_id": "rep-9"}, "manager", "m1"
    )
    assert r.status_code == 201 and r.json()["owner_id"] == "rep-9" and r.json()["created_by"] == "m1"
    # ... and the task's owner sees and completes it although the lead is not theirs
    rep9 = leads.auth("rep", sub="rep-9", team="t1")
    r = await leads.http.post(f"/api/v1/activities/{r.json()['id']}:complete", headers=rep9)
    assert r.status_code == 200 and r.json()["done_at"]

    # reps delete only what they wrote; the system's first follow-up has to be done, not deleted
    async with leads.runtime.unit_of_work() as s:
        lead = await s.get(Lead, uuid.UUID(lead_id))
        first = await ActivityService(s).create_first_followup(lead, "rep-1", 60)
    rep1 = leads.auth("rep", sub="rep-1", team="t1")
    r = await leads.http.delete(f"/api/v1/activities/{first.id}", headers=rep1)
    assert r.status_code == 403
    assert (await leads.http.delete(f"/api/v1/activities/{task['id']}", headers=rep1)).status_code == 204
    assert (await leads.http.get(f"/api/v1/activities/{task['id']}", headers=rep1)).status_code == 404
    assert (await leads.http.delete(f"/api/v1/activities/{first.id}", headers=manager)).status_code == 204


# --- agenda ---------------------------------------------------------------------------------------


async def test_agenda_splits_overdue_from_upcoming_sorted_by_due_time(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads, owner="rep-1", team="t1")
    junk_id = await new_lead(leads, owner="rep-1", team="t1")
    other_team_lead = await new_lead(leads, owner="rep-1", team="t2")
    now = utcnow()

    async def task(lead: str, hours: float, subject: str, kind: str = "task") -> str:
        when = iso(now + dt.timedelta(hours=hours))
        body = {
            "kind": kind,
            "subject": subject,
            **({"due_at": when} if kind == "task" else {"starts_at": when}),
        }
        r = await post_activity(leads, lead, body, team="t1" if lead != other_team_lead else "t2")
        assert r.status_code == 201, r.text
        return r.json()["id"]

    late2 = await task(lead_id, -2, "two hours late")
    late1 = await task(lead_id, -1, "one hour late")
    done = await task(lead_id, -3, "done already")
    soon = await task(lead_id, 1, "in an hour")
    meeting = await task(lead_id, 3, "meeting", kind="event")
    later = await task(lead_id, 48, "in two days")
    await task(lead_id, 24 * 10, "in ten days")  # outside the default week
    await task(junk_id, -1, "junk lead's task")
    t2 = await task(other_team_lead, 2, "team 2 lead")
    await post_activity(leads, lead_id, {"kind": "note", "body": "notes are not on the agenda"})
    auth = leads.auth("rep", sub="rep-1", team="t1")
    assert (await leads.http.post(f"/api/v1/activities/{done}:complete", headers=auth)).status_code == 200
    await set_lead(leads, junk_id, status="junk")

    r = await leads.http.get("/api/v1/agenda", headers=auth)
    assert r.status_code == 200, r.text
    agenda = r.json()
    assert agenda["owner_id"] == "rep-1"
    assert [i["id"] for i in agenda["overdue"]] == [late2, late1]
    assert all(i["overdue"] for i in agenda["overdue"])
    assert [i["id"] for i in agenda["upcoming"]] == [soon, t2, meeting, later]
    assert not any(i["overdue"] for i in agenda["upcoming"])
    assert agenda["upcoming"][2]["kind"] == "event"
    assert agenda["upcoming"][0]["lead"] == {
        "id": lead_id,
        "name": "Ali Rezaei",
        "company": "Acme",
        "status": "in_progress",  # a task was completed
    }

    window = {"from": iso(now - dt.timedelta(minutes=90)), "to": iso(now + dt.timedelta(hours=2, minutes=30))}
    r = await leads.http.get("/api/v1/agenda", params=window, headers=auth)
    assert [i["id"] for i in r.json()["overdue"]] == [late1]
    assert [i["id"] for i in r.json()["upcoming"]] == [soon, t2]

    # a manager sees a rep's work on the team's leads, not on another team's; reps only their own
    manager = leads.auth("manager", sub="m1", team="t1")
    r = await leads.http.get("/api/v1/agenda", params={"owner_id": "rep-1"}, headers=manager)
    assert r.status_code == 200
    assert [i["id"] for i in r.json()["upcoming"]] == [soon, meeting, later]
    admin = leads.auth("admin", sub="a", team="x")
    r = await leads.http.get("/api/v1/agenda", params={"owner_id": "rep-1"}, headers=admin)
    assert [i["id"] for i in r.json()["upcoming"]] == [soon, t2, meeting, later]
    r = await leads.http.get(
        "/api/v1/agenda", params={"owner_id": "rep-1"}, headers=leads.auth("rep", sub="rep-2")
    )
    assert r.status_code == 403
    r = await leads.http.get(
        "/api/v1/agenda",
        params={"owner_id": "rep-1", "to": window["from"], "from": window["to"]},
        headers=auth,
    )
    assert r.status_code == 422
    r = await leads.http.get("/api/v1/agenda", params={"from": "2030-01-01T00:00:00"}, headers=auth)
    assert r.status_code == 422  # times must carry a zone


# --- speed-to-lead and contact times --------------------------------------------------------------


async def test_first_touch_is_the_owners_first_call_email_or_note_and_is_exported_once(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads, owner="rep-1", team="t1")
    lead = await lead_row(leads, lead_id)
    channel = lead.intake_channel
    labels = {"channel": channel}
    count_before = REGISTRY.get_sample_value("crm_leads_speed_to_lead_seconds_count", labels) or 0.0

    # a task is not a touch; a manager's call is contact but not the owner's first touch
    due = iso(utcnow() + dt.timedelta(hours=1))
    await post_activity(leads, lead_id, {"kind": "task", "subject": "Call", "due_at": due})
    r = await post_activity(
        leads, lead_id, {"kind": "call", "direction": "outbound", "outcome": "answered"}, "manager", "m1"
    )
    assert r.status_code == 201
    lead = await lead_row(leads, lead_id)
    assert lead.first_touch_at is None and lead.last_contact_at is not None
    r = await leads.http.get(f"/api/v1/leads/{lead_id}/speed-to-lead", headers=leads.auth("rep", sub="rep-1"))
    assert r.status_code == 200, r.text
    assert r.json()["first_touch_at"] is None and r.json()["seconds_to_first_touch"] is None
    assert r.json()["waiting_seconds"] >= 0

    r = await post_activity(leads, lead_id, {"kind": "email", "direction": "outbound", "subject": "Hello"})
    assert r.status_code == 201
    touched = (await lead_row(leads, lead_id)).first_touch_at
    assert touched is not None
    await post_activity(leads, lead_id, {"kind": "note", "body": "second touch"})
    lead = await lead_row(leads, lead_id)
    assert lead.first_touch_at == touched  # set once
    assert lead.last_contact_at >= touched

    r = await leads.http.get(f"/api/v1/leads/{lead_id}/speed-to-lead", headers=leads.auth("rep", sub="rep-1"))
    body = r.json()
    assert dt.datetime.fromisoformat(body["first_touch_at"]) == touched
    assert body["seconds_to_first_touch"] == (touched - lead.created_at).total_seconds()
    assert body["seconds_from_assignment"] is not None and body["waiting_seconds"] is None

    assert REGISTRY.get_sample_value("crm_leads_speed_to_lead_seconds_count", labels) == count_before + 1
    metrics = (await leads.http.get("/metrics")).text
    assert f'crm_leads_speed_to_lead_seconds_bucket{{channel="{channel}",le="60.0"}}' in metrics
    assert f'crm_leads_speed_to_lead_seconds_bucket{{channel="{channel}",le="604800.0"}}' in metrics


async def test_a_refused_activity_records_no_touch_and_no_metric(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads, owner="rep-1")
    await set_lead(leads, lead_id, status="junk")
    labels = {"channel": (await lead_row(leads, lead_id)).intake_channel}
    before = REGISTRY.get_sample_value("crm_leads_speed_to_lead_seconds_count", labels) or 0.0
    r = await post_activity(leads, lead_id, {"kind": "call", "direction": "outbound", "outcome": "busy"})
    assert r.status_code == 409
    assert (await lead_row(leads, lead_id)).first_touch_at is None
    assert (REGISTRY.get_sample_value("crm_leads_speed_to_lead_seconds_count", labels) or 0.0) == before


# --- statuses -------------------------------------------------------------------------------------


async def test_junk_lead_refuses_further_activity_with_409(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    due = iso(utcnow() + dt.timedelta(days=1))
    task = (await post_activity(leads, lead_id, {"kind": "task", "subject": "x", "due_at": due})).json()
    await set_lead(leads, lead_id, status="junk")
    auth = leads.auth("rep", sub="rep-1")

    for body in (
        {"kind": "note", "body": "x"},
        {"kind": "task", "subject": "x", "due_at": due},
        {"kind": "call", "direction": "outbound", "outcome": "answered"},
    ):
        r = await post_activity(leads, lead_id, body)
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.json()["type"].endswith("/lead-closed") and "junk" in r.json()["detail"]
    r = await leads.http.post(f"/api/v1/activities/{task['id']}:complete", headers=auth)
    assert r.status_code == 409
    r = await leads.http.patch(f"/api/v1/activities/{task['id']}", json={"subject": "y"}, headers=auth)
    assert r.status_code == 409
    # the history stays readable
    r = await leads.http.get(f"/api/v1/leads/{lead_id}/activities", headers=auth)
    assert r.status_code == 200 and len(r.json()["items"]) == 1

    for status in ("converted", "merged"):
        other = await new_lead(leads)
        await set_lead(leads, other, status=status)
        assert (await post_activity(leads, other, {"kind": "note", "body": "x"})).status_code == 409
    async with leads.runtime.unit_of_work() as s:
        lead = await s.get(Lead, uuid.UUID(lead_id))
        try:
            await ActivityService(s).create_first_followup(lead, "rep-1", 10)
        except Exception as exc:
            assert getattr(exc, "http_status", None) == 409
        else:
            raise AssertionError("a junk lead got a follow-up task")


async def test_status_chain_new_waiting_in_progress_serious_prospect_driven_by_tasks(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    auth = leads.auth("rep", sub="rep-1")
    due = iso(utcnow() + dt.timedelta(days=1))

    async def status() -> str:
        return (await lead_row(leads, lead_id)).status

    async def task_done() -> None:
        r = await post_activity(leads, lead_id, {"kind": "task", "subject": "step", "due_at": due})
        assert r.status_code == 201, r.text
        r = await leads.http.post(f"/api/v1/activities/{r.json()['id']}:complete", headers=auth)
        assert r.status_code == 200, r.text

    assert await status() == "new"
    first = await post_activity(leads, lead_id, {"kind": "task", "subject": "Call", "due_at": due})
    assert await status() == "waiting_for_contact"
    r = await leads.http.post(f"/api/v1/activities/{first.json()['id']}:complete", headers=auth)
    assert r.status_code == 200 and r.json()["done_at"] is not None
    assert await status() == "in_progress"
    again = await leads.http.post(f"/api/v1/activities/{first.json()['id']}:complete", headers=auth)
    assert again.status_code == 200 and again.json()["done_at"] == r.json()["done_at"]  # idempotent

    await task_done()  # 2 closed tasks, but the lead is not qualified
    assert await status() == "in_progress"
    await set_lead(leads, lead_id, qualified=True)
    await task_done()  # 3 closed tasks and qualified
    assert await status() == "serious_prospect"
    await task_done()
    assert await status() == "serious_prospect"

    new, waiting, progress, serious = (
        leads_pb2.LEAD_STATUS_NEW,
        leads_pb2.LEAD_STATUS_WAITING_FOR_CONTACT,
        leads_pb2.LEAD_STATUS_IN_PROGRESS,
        leads_pb2.LEAD_STATUS_SERIOUS_PROSPECT,
    )
    assert await status_events(leads, lead_id) == [(new, waiting), (waiting, progress), (progress, serious)]


async def test_serious_prospect_threshold_is_configurable(crm):
    leads = await crm.start(definition, serious_prospect_closed_tasks=1)
    lead_id = await new_lead(leads)
    await set_lead(leads, lead_id, qualified=True)
    due = iso(utcnow() + dt.timedelta(days=1))
    r = await post_activity(leads, lead_id, {"kind": "event", "subject": "Visit", "starts_at": due})
    r = await leads.http.post(
        f"/api/v1/activities/{r.json()['id']}:complete", headers=leads.auth("rep", sub="rep-1")
    )
    assert r.status_code == 200
    assert (await lead_row(leads, lead_id)).status == "serious_prospect"


async def test_a_call_or_email_brings_a_forgotten_lead_back_to_in_progress(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    await set_lead(leads, lead_id, status="forgotten")
    await post_activity(leads, lead_id, {"kind": "note", "body": "still thinking about them"})
    assert (await lead_row(leads, lead_id)).status == "forgotten"
    r = await post_activity(leads, lead_id, {"kind": "call", "direction": "inbound", "outcome": "answered"})
    assert r.status_code == 201
    assert (await lead_row(leads, lead_id)).status == "in_progress"


# --- reminders ------------------------------------------------------------------------------------


async def test_due_reminders_are_claimed_once_and_published(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    junk_id = await new_lead(leads)
    now = utcnow()
    past, future = iso(now - dt.timedelta(minutes=5)), iso(now + dt.timedelta(hours=1))

    async def make(lead: str, remind_at: str, subject: str) -> str:
        body = {"kind": "task", "subject": subject, "due_at": future, "remind_at": remind_at}
        r = await post_activity(leads, lead, body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    due = await make(lead_id, past, "due")
    not_yet = await make(lead_id, future, "not yet")
    done = await make(lead_id, past, "done")
    junk = await make(junk_id, past, "on a junk lead")
    auth = leads.auth("rep", sub="rep-1")
    assert (await leads.http.post(f"/api/v1/activities/{done}:complete", headers=auth)).status_code == 200
    await set_lead(leads, junk_id, status="junk")

    async with leads.runtime.unit_of_work() as s:
        assert await ActivityService(s).send_due_reminders() == (3, 1)
    async with leads.runtime.unit_of_work() as s:
        assert await ActivityService(s).send_due_reminders() == (0, 0)  # idempotent

    async with leads.runtime.sessions() as s:
        sent = dict((await s.execute(select(Activity.id, Activity.reminder_sent_at))).all())
        rows = (
            await s.execute(select(tables.outbox).where(tables.outbox.c.subject == ACTIVITY_REMINDER_DUE))
        ).all()
    assert all(sent[uuid.UUID(i)] is not None for i in (due, done, junk))
    assert sent[uuid.UUID(not_yet)] is None
    [row] = rows
    event = events_pb2.ActivityReminderDue.FromString(row.payload)
    assert event.activity_id == due and event.lead_id == lead_id and event.owner_id == "rep-1"
    assert event.kind == "task" and event.subject == "due"
    assert event.due_at.ToDatetime(dt.UTC) == dt.datetime.fromisoformat(future)
    assert event.metadata.event_id == str(row.id)

    async def published():
        async with leads.runtime.sessions() as s:
            r = await s.execute(select(tables.outbox.c.published_at).where(tables.outbox.c.id == row.id))
            return r.scalar_one()

    await eventually(published, timeout=10)

    # moving the reminder arms it again
    r = await leads.http.patch(f"/api/v1/activities/{due}", json={"remind_at": past}, headers=auth)
    assert r.status_code == 200 and r.json()["reminder_sent_at"] is not None  # unchanged time: still sent
    r = await leads.http.patch(
        f"/api/v1/activities/{due}", json={"remind_at": iso(now - dt.timedelta(minutes=1))}, headers=auth
    )
    assert r.status_code == 200 and r.json()["reminder_sent_at"] is None
    async with leads.runtime.unit_of_work() as s:
        assert await ActivityService(s).send_due_reminders() == (1, 1)


async def test_concurrent_reminder_runs_claim_each_reminder_once(crm):
    leads = await crm.start(definition)
    lead_id = await new_lead(leads)
    past = iso(utcnow() - dt.timedelta(minutes=1))
    for i in range(40):
        body = {"kind": "task", "subject": f"t{i}", "due_at": past, "remind_at": past}
        assert (await post_activity(leads, lead_id, body)).status_code == 201

    async def run() -> int:
        total = 0
        while True:
            async with leads.runtime.unit_of_work() as s:
                claimed, _ = await ActivityService(s).send_due_reminders(limit=7)
            total += claimed
            if claimed == 0:
                return total

    counts = await asyncio.gather(*(run() for _ in range(4)))
    assert sum(counts) == 40
    async with leads.runtime.sessions() as s:
        rows = (
            await s.execute(select(tables.outbox).where(tables.outbox.c.subject == ACTIVITY_REMINDER_DUE))
        ).all()
    ids = [events_pb2.ActivityReminderDue.FromString(r.payload).activity_id for r in rows]
    assert len(ids) == len(set(ids)) == 40


async def test_reminder_beat_task_runs_in_a_real_celery_worker(crm):
    leads = await crm.start(definition, celery_worker=True)
    lead_id = await new_lead(leads)
    past = iso(utcnow() - dt.timedelta(minutes=1))
    r = await post_activity(
        leads, lead_id, {"kind": "event", "subject": "Demo", "starts_at": past, "remind_at": past}
    )
    activity_id = uuid.UUID(r.json()["id"])

    from crm_leads.worker import celery

    assert "send-due-reminders" in celery.conf.beat_schedule
    result = celery.send_task("leads.send_due_reminders", queue=celery.conf.task_default_queue)
    assert await asyncio.to_thread(result.get, timeout=20) == 1

    async def reminded():
        async with leads.runtime.sessions() as s:
            return (await s.get(Activity, activity_id)).reminder_sent_at

    assert await eventually(reminded, timeout=10)
    result = celery.send_task("leads.send_due_reminders", queue=celery.conf.task_default_queue)
    assert await asyncio.to_thread(result.get, timeout=20) == 0
