"""Bulk write helpers of crm_platform.db against real PostgreSQL (the leads schema as the host)."""

from __future__ import annotations

import uuid

import pytest
from crm.leads.v1 import events_pb2
from crm_leads.app import definition
from crm_leads.db import tables
from crm_platform.db import coalesced_inserts, insert_rows, transaction
from crm_platform.outbox import add_event, add_events
from crm_platform.testing.harness import sql_log
from sqlalchemy import select, text


async def test_coalesced_block_writes_each_table_once_in_order_and_nothing_on_error(crm):
    leads = await crm.start(definition)
    with sql_log(leads.runtime.engine, "INSERT INTO OUTBOX_EVENT") as statements:

        def created(name: str) -> events_pb2.LeadCreated:
            msg = events_pb2.LeadCreated()
            msg.lead.company = name
            return msg

        async with transaction(leads.runtime.sessions) as session:
            async with coalesced_inserts(session):
                await add_event(session, tables, "crm.leads.lead.created", created("one"), producer="t")
                await add_events(
                    session,
                    tables,
                    [("crm.leads.lead.created", created(n), n) for n in ("two", "three")],
                    producer="t",
                )
                async with coalesced_inserts(session):  # nested: the outer block writes
                    await add_event(session, tables, "crm.leads.lead.created", created("four"), producer="t")
                assert statements == []  # collected, not written yet
            assert len(statements) == 1
        async with leads.runtime.sessions() as s:
            rows = (await s.execute(select(tables.outbox.c.payload).order_by(tables.outbox.c.seq))).all()
        assert [events_pb2.LeadCreated.FromString(r.payload).lead.company for r in rows] == [
            "one",
            "two",
            "three",
            "four",
        ]

        statements.clear()
        try:
            async with leads.runtime.sessions() as session, coalesced_inserts(session):
                await add_event(session, tables, "crm.leads.lead.created", created("lost"), producer="t")
                raise RuntimeError("use case failed")
        except RuntimeError:
            pass
        assert statements == []

        async with transaction(leads.runtime.sessions) as session:  # outside a block: written at once
            await insert_rows(session, tables.outbox, [])
            await add_event(session, tables, "crm.leads.lead.created", created("five"), producer="t")
            assert len(statements) == 1


async def test_one_statement_writes_parents_children_and_every_column_type(crm):
    """A coalesced block writes several tables in one round trip: a child row collected before its
    parent still passes the foreign key, and every kind of value (uuid, timestamptz, text[], jsonb,
    numeric, bytea, NULL, Python defaults) reads back as the ORM would have written it."""
    import datetime as dt
    import uuid
    from decimal import Decimal

    from crm_leads.activities.models import Activity
    from crm_leads.leads.models import Lead
    from crm_platform.db import insert_objects, new_object

    leads = await crm.start(definition)
    with sql_log(leads.runtime.engine, "INSERT INTO") as statements:
        lead_id = uuid.uuid4()
        at = dt.datetime(2026, 11, 25, 13, 0, 0, 123456, tzinfo=dt.UTC)
        payload = bytes(range(256))
        subject = "Call \u00e9\u05d0 'q' \"d\" \\ {x}"
        async with transaction(leads.runtime.sessions) as session:
            async with coalesced_inserts(session):
                await insert_objects(  # the child first: its FK is checked at the end of the statement
                    session,
                    [Activity(lead_id=lead_id, kind="task", subject=subject, owner_id="r1")],
                )
                await insert_rows(
                    session,
                    tables.outbox,
                    [
                        {
                            "id": uuid.uuid4(),
                            "subject": "s",
                            "event_type": "t",
                            "payload": payload,
                            "created_at": at,
                        }
                    ],
                )
                lead = new_object(  # built without attribute events: same row as Lead(...)
                    Lead,
                    id=lead_id,
                    first_name="Zs\u00f3fia",
                    emails=["a@example.com", "b@example.com"],
                    phones=[{"e164": "+989121234567", "kind": "mobile"}],
                    phone_numbers=["+989121234567"],
                    annual_revenue=Decimal("1234567.89"),
                    employee_count=None,
                    custom_fields={"tier": "gold", "n": 3, "nested": {"ok": True}},
                    created_at=at,
                    updated_at=at,
                )
                await insert_objects(session, [lead], attach=True)
                assert statements == []
            assert len(statements) == 1 and statements[0].lstrip().upper().startswith("WITH")
        async with leads.runtime.sessions() as s:
            got = await s.get(Lead, lead_id)
            assert got is not None
            assert (got.first_name, got.emails, got.phone_numbers) == (
                "Zs\u00f3fia",
                ["a@example.com", "b@example.com"],
                ["+989121234567"],
            )
            assert got.phones == [{"e164": "+989121234567", "kind": "mobile"}]
            assert got.annual_revenue == Decimal("1234567.89") and got.employee_count is None
            assert got.custom_fields == {"tier": "gold", "n": 3, "nested": {"ok": True}}
            assert (
                got.created_at == at and got.status == "new" and got.do_not_call is False
            )  # Python defaults
            task = (await s.scalars(select(Activity).where(Activity.lead_id == lead_id))).one()
            assert task.subject == subject
            out = (await s.execute(select(tables.outbox.c.payload, tables.outbox.c.headers))).one()
            assert bytes(out.payload) == payload and out.headers == {}  # server default for the absent column


async def test_upsert_rows_in_a_block_updates_the_row_and_the_last_state_of_a_key_wins(crm):
    import uuid

    from crm_leads.assignment.models import PoolState
    from crm_platform.db import upsert_rows

    leads = await crm.start(definition)
    rule_id = uuid.uuid4()
    pools = PoolState.__table__
    async with transaction(leads.runtime.sessions) as session:  # outside a block: at once
        await upsert_rows(
            session, pools, [{"rule_id": rule_id, "counter": 1, "weights": {}}], key=["rule_id"]
        )
    async with transaction(leads.runtime.sessions) as session:
        async with coalesced_inserts(session):
            for n in (2, 3, 7):  # the same row three times in one statement
                await upsert_rows(
                    session, pools, [{"rule_id": rule_id, "counter": n, "weights": {"a": n}}], key=["rule_id"]
                )
    async with leads.runtime.sessions() as s:
        rows = (await s.execute(select(pools.c.counter, pools.c.weights))).all()
    assert [(r.counter, r.weights) for r in rows] == [(7, {"a": 7})]


async def test_relay_deletes_published_rows_past_the_retention_and_keeps_the_rest(crm):
    """Published outbox rows older than the retention go (a range of the UUIDv7 primary key); rows
    still waiting to be published stay however old, and so do recent published ones."""
    import datetime as dt
    import uuid

    from crm_platform.ids import first_id_at, new_id

    leads = await crm.start(definition)
    relay = leads.runtime.relay
    now = dt.datetime.now(dt.UTC)

    def old_id(days: float) -> uuid.UUID:  # an id made `days` ago
        return uuid.UUID(int=first_id_at(now - dt.timedelta(days=days)).int | 12345)

    rows = {
        "old published": (old_id(9), now - dt.timedelta(days=9)),
        "old waiting": (old_id(8), None),
        "recent published": (old_id(2), now - dt.timedelta(days=2)),
        "new published": (new_id(), now),
    }
    async with transaction(leads.runtime.sessions) as session:
        await insert_rows(
            session,
            tables.outbox,
            [
                {"id": i, "subject": name, "event_type": "t", "payload": b"x", "published_at": at}
                for name, (i, at) in rows.items()
            ],
        )
    relay.purge_chunk = 1  # several chunks, one transaction each
    assert await relay.purge_published(now=now) <= 1  # (the relay's own minutely run may come first)

    async def subjects() -> set[str]:
        async with leads.runtime.sessions() as s:
            return set((await s.scalars(select(tables.outbox.c.subject))).all())

    left = await subjects()
    assert left >= {"old waiting", "recent published", "new published"} and "old published" not in left
    relay.retention = None  # S_OUTBOX_RETENTION_HOURS=0: kept forever
    assert await relay.purge_published(now=now + dt.timedelta(days=30)) == 0
    assert await subjects() == left


async def test_driver_statements_fail_as_sqlalchemy_statements_do(crm):
    """Statements run through asyncpg itself (driver_fetch / driver_execute) raise what
    session.execute would: an IntegrityError for a broken constraint, a DBAPIError marked
    connection_invalidated when the connection is gone (which the edges answer with 503 /
    UNAVAILABLE); and the pool hands out a working connection afterwards."""
    from crm_platform.db import driver_execute, driver_fetch
    from crm_platform.errors import client_data_error, infrastructure_error
    from sqlalchemy.exc import DBAPIError, IntegrityError

    leads = await crm.start(definition)
    event_id = uuid.uuid4()
    insert = "INSERT INTO outbox_event (id, subject, event_type, payload) VALUES ($1, 's', 't', '')"
    async with transaction(leads.runtime.sessions) as session:
        await driver_execute(session, insert, event_id)
    with pytest.raises(IntegrityError) as caught:
        async with transaction(leads.runtime.sessions) as session:
            await driver_execute(session, insert, event_id)
    assert caught.value.orig.sqlstate == "23505"  # type: ignore[union-attr]

    with pytest.raises(DBAPIError) as caught:
        async with transaction(leads.runtime.sessions) as session:
            await driver_execute(
                session,
                "INSERT INTO outbox_event (id, subject, event_type, payload) VALUES ($1, $2, 't', '')",
                uuid.uuid4(),
                "nul \x00 byte",
            )
    assert client_data_error(caught.value) is not None  # a 422, the client's data

    with pytest.raises(DBAPIError) as caught:
        async with transaction(leads.runtime.sessions) as session:
            (pid,) = (await driver_fetch(session, "SELECT pg_backend_pid()"))[0]
            async with leads.runtime.sessions() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await driver_fetch(session, "SELECT 1")
    assert caught.value.connection_invalidated
    assert infrastructure_error(caught.value) is not None  # a 503, retry later

    async with transaction(leads.runtime.sessions) as session:
        assert (await driver_fetch(session, "SELECT count(*) FROM outbox_event WHERE id = $1", event_id))[0][
            0
        ] == 1
