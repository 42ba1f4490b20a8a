"""Bulk write helpers of crm_platform.db against real PostgreSQL (the leads schema as the host)."""

from __future__ import annotations

from crm.leads.v1 import events_pb2
from crm_leads.app import definition
from crm_leads.db import tables
from crm_platform.db import coalesced_inserts, insert_rows, transaction
from crm_platform.outbox import add_event, add_events
from sqlalchemy import event, select


async def test_coalesced_block_writes_each_table_once_in_order_and_nothing_on_error(crm):
    leads = await crm.start(definition)
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX_EVENT"):
            statements.append(statement)

    event.listen(leads.runtime.engine.sync_engine, "before_cursor_execute", count)

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
