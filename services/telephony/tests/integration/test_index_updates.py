"""telephony keeps its phone index in step with updates: contact and organization events of a running
deals service, lead updates and merges of a running leads service; events of one record handled out of
order (they come through different consumers) never bring back stale phones."""

from __future__ import annotations

import datetime as dt

from crm.common.v1 import contact_point_pb2, event_pb2
from crm.deals.v1 import deals_pb2
from crm.deals.v1 import events_pb2 as deals_events
from crm.leads.v1 import events_pb2 as leads_events
from crm.leads.v1 import leads_pb2
from crm_deals.app import definition as deals_definition
from crm_leads.app import definition as leads_definition
from crm_platform.inbox import EventContext
from crm_platform.testing.harness import eventually
from crm_telephony.app import definition
from crm_telephony.phonebook import handlers
from crm_telephony.phonebook.models import PhoneIndexEntry
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select


async def _index(telephony) -> dict[str, list[tuple[str, str, str]]]:
    """e164 -> [(record type, record id, display name)]"""
    async with telephony.runtime.sessions() as s:
        rows = (await s.execute(select(PhoneIndexEntry))).scalars().all()
    out: dict[str, list[tuple[str, str, str]]] = {}
    for r in rows:
        out.setdefault(r.e164, []).append((r.record_type, r.record_id, r.display_name))
    return {k: sorted(v) for k, v in sorted(out.items())}


async def _until(telephony, expected: dict) -> None:
    async def matches():
        return await _index(telephony) == expected

    try:
        await eventually(matches, timeout=5.0)
    except Exception:
        assert await _index(telephony) == expected  # shows the difference
        raise


async def test_contact_and_organization_updates_from_deals_reindex_their_phones(crm):
    deals = await crm.start(deals_definition)
    telephony = await crm.start(definition)
    rep = deals.auth("rep", sub="rep-2")
    body = {
        "first_name": "Dana",
        "last_name": "Levi",
        "phones": [{"number": "052-345-6789"}],
        "default_region": "IL",
    }
    r = await deals.http.post("/api/v1/contacts", json=body, headers=rep)
    assert r.status_code == 201, r.text
    contact = r.json()["id"]
    await _until(telephony, {"+972523456789": [("contact", contact, "Dana Levi")]})

    # the contact's phones replaced: the old number leaves the index, the new ones come in
    patch = {"last_name": "Cohen", "phones": [{"number": "+36 30 123 4567"}, {"number": "+972 3 555 1234"}]}
    r = await deals.http.patch(f"/api/v1/contacts/{contact}", json=patch, headers=rep)
    assert r.status_code == 200, r.text
    await _until(
        telephony,
        {
            "+36301234567": [("contact", contact, "Dana Cohen")],
            "+97235551234": [("contact", contact, "Dana Cohen")],
        },
    )

    # organizations are indexed on creation and follow their updates
    body = {"name": "Acme Kft", "phones": [{"number": "+36 1 234 5678"}]}
    r = await deals.http.post("/api/v1/organizations", json=body, headers=rep)
    assert r.status_code == 201, r.text
    org = r.json()["id"]
    await _until(
        telephony,
        {
            "+3612345678": [("organization", org, "Acme Kft")],
            "+36301234567": [("contact", contact, "Dana Cohen")],
            "+97235551234": [("contact", contact, "Dana Cohen")],
        },
    )
    r = await deals.http.patch(
        f"/api/v1/organizations/{org}",
        json={"name": "Acme Zrt", "phones": [{"number": "+36 30 123 4567"}]},
        headers=rep,
    )
    assert r.status_code == 200, r.text
    await _until(
        telephony,
        {
            "+36301234567": [("contact", contact, "Dana Cohen"), ("organization", org, "Acme Zrt")],
            "+97235551234": [("contact", contact, "Dana Cohen")],
        },
    )
    # a contact left without phones leaves the index
    r = await deals.http.patch(f"/api/v1/contacts/{contact}", json={"phones": []}, headers=rep)
    assert r.status_code == 200, r.text
    await _until(telephony, {"+36301234567": [("organization", org, "Acme Zrt")]})


async def test_lead_updates_and_merges_from_leads_reindex_their_phones(crm):
    leads = await crm.start(leads_definition)
    telephony = await crm.start(definition)
    admin = leads.auth()
    one = {"first_name": "Ali", "last_name": "Rezaei", "phones": [{"number": "+98 912 345 6789"}]}
    two = {
        "first_name": "Bence",
        "last_name": "Nagy",
        "company": "Nagy Bt",
        "phones": [{"number": "+36 20 111 2222"}],
    }
    r1 = await leads.http.post("/api/v1/leads", json=one, headers=admin)
    r2 = await leads.http.post("/api/v1/leads", json=two, headers=admin)
    assert (r1.status_code, r2.status_code) == (201, 201), (r1.text, r2.text)
    lead1, lead2 = r1.json()["id"], r2.json()["id"]
    await _until(
        telephony,
        {"+36201112222": [("lead", lead2, "Bence Nagy")], "+989123456789": [("lead", lead1, "Ali Rezaei")]},
    )

    patch = {"phones": [{"number": "+98 912 345 6789"}, {"number": "+98 21 8888 1234"}]}
    r = await leads.http.patch(f"/api/v1/leads/{lead1}", json=patch, headers=admin)
    assert r.status_code == 200, r.text
    await _until(
        telephony,
        {
            "+36201112222": [("lead", lead2, "Bence Nagy")],
            "+982188881234": [("lead", lead1, "Ali Rezaei")],
            "+989123456789": [("lead", lead1, "Ali Rezaei")],
        },
    )

    # lead 2 merged into lead 1: its phone now pops lead 1, and lead 2 is gone from the index
    r = await leads.http.post(f"/api/v1/leads/{lead1}/merge", json={"other_id": lead2}, headers=admin)
    assert r.status_code == 200, r.text
    await _until(
        telephony,
        {
            "+36201112222": [("lead", lead1, "Ali Rezaei")],
            "+982188881234": [("lead", lead1, "Ali Rezaei")],
            "+989123456789": [("lead", lead1, "Ali Rezaei")],
        },
    )


# --- out of order: each record's events are applied in the order they happened ---------------------------


def _meta(at: dt.datetime) -> event_pb2.EventMetadata:
    ts = Timestamp()
    ts.FromDatetime(at)
    return event_pb2.EventMetadata(occurred_at=ts)


def _ctx(subject: str) -> EventContext:
    return EventContext(event_id="e", subject=subject, headers={}, deliveries=1)


def _phones(*numbers: str) -> list[contact_point_pb2.Phone]:
    return [contact_point_pb2.Phone(e164=n) for n in numbers]


async def test_events_handled_out_of_order_never_bring_back_stale_phones(crm):
    telephony = await crm.start(definition, wait_nats=False)
    t0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)
    t = [t0 + dt.timedelta(seconds=i) for i in range(6)]

    async def handle(handler, event, subject: str) -> None:
        async with telephony.runtime.unit_of_work() as s:
            await handler(s, event, _ctx(subject))

    # a contact's update handled before its creation: the creation (older) is skipped
    updated = deals_events.ContactUpdated(
        metadata=_meta(t[2]),
        contact=deals_pb2.Contact(id="c-1", phones=_phones("+36301234567")),
        display_name="New",
    )
    created = deals_events.ContactCreated(
        metadata=_meta(t[1]), contact_id="c-1", display_name="Old", phones=_phones("+989121111111")
    )
    await handle(handlers.on_contact_updated, updated, "crm.deals.contact.updated")
    await handle(handlers.on_contact_created, created, "crm.deals.contact.created")
    assert await _index(telephony) == {"+36301234567": [("contact", "c-1", "New")]}
    # the same update again (a redelivery that got past the inbox) changes nothing
    await handle(handlers.on_contact_updated, updated, "crm.deals.contact.updated")
    assert await _index(telephony) == {"+36301234567": [("contact", "c-1", "New")]}

    # organizations: an older update after a newer one is skipped too
    def org_event(kind, at: dt.datetime, name: str, *numbers: str):
        return kind(
            metadata=_meta(at),
            organization=deals_pb2.Organization(id="o-1", name=name, phones=_phones(*numbers)),
        )

    await handle(
        handlers.on_organization_created,
        org_event(deals_events.OrganizationCreated, t[0], "A", "+3612345678"),
        "x",
    )
    await handle(
        handlers.on_organization_updated,
        org_event(deals_events.OrganizationUpdated, t[3], "C", "+3612345679"),
        "x",
    )
    await handle(
        handlers.on_organization_updated,
        org_event(deals_events.OrganizationUpdated, t[2], "B", "+3612345670"),
        "x",
    )
    assert (await _index(telephony))["+3612345679"] == [("organization", "o-1", "C")]
    assert "+3612345670" not in await _index(telephony) and "+3612345678" not in await _index(telephony)

    # leads: X merged into Y; X's earlier update and Y's creation arrive late and are skipped
    def lead(lead_id: str, name: str, *numbers: str) -> leads_pb2.Lead:
        return leads_pb2.Lead(id=lead_id, first_name=name, phones=_phones(*numbers))

    merged = leads_events.LeadMerged(
        metadata=_meta(t[4]), lead=lead("y", "Y", "+989122222222", "+989123333333"), merged_lead_id="x"
    )
    await handle(
        handlers.on_lead_created,
        leads_events.LeadCreated(metadata=_meta(t[0]), lead=lead("x", "X", "+989123333333")),
        "x",
    )
    await handle(handlers.on_lead_merged, merged, "crm.leads.lead.merged")
    await handle(
        handlers.on_lead_updated,
        leads_events.LeadUpdated(metadata=_meta(t[3]), lead=lead("x", "X", "+989124444444")),
        "crm.leads.lead.updated",
    )
    await handle(
        handlers.on_lead_created,
        leads_events.LeadCreated(metadata=_meta(t[1]), lead=lead("y", "Y", "+989125555555")),
        "x",
    )
    index = await _index(telephony)
    assert {k: v for k, v in index.items() if k.startswith("+98912")} == {
        "+989122222222": [("lead", "y", "Y")],
        "+989123333333": [("lead", "y", "Y")],
    }
    # the survivor's own later update still applies
    await handle(
        handlers.on_lead_updated,
        leads_events.LeadUpdated(metadata=_meta(t[5]), lead=lead("y", "Y", "+989122222222")),
        "crm.leads.lead.updated",
    )
    index = await _index(telephony)
    assert {k: v for k, v in index.items() if k.startswith("+98912")} == {
        "+989122222222": [("lead", "y", "Y")]
    }
