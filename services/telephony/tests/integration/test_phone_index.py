"""telephony builds its phone index from lead and contact events of running leads and deals services."""

from __future__ import annotations

import grpc
import pytest
from crm.telephony.v1 import telephony_pb2, telephony_pb2_grpc
from crm_deals.app import definition as deals_definition
from crm_leads.app import definition as leads_definition
from crm_platform.testing.harness import eventually
from crm_telephony.app import definition
from crm_telephony.phonebook.models import PhoneIndexEntry
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from sqlalchemy import func, select

LEAD_CREATED = "crm.leads.lead.created"


async def _rows(telephony) -> int:
    async with telephony.runtime.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(PhoneIndexEntry)) or 0)


async def _lookup(telephony, phone: str, region: str = "") -> telephony_pb2.LookupPhoneResponse:
    stub = telephony_pb2_grpc.TelephonyServiceStub(telephony.grpc_channel)
    request = telephony_pb2.LookupPhoneRequest(phone=phone, default_region=region)
    return await stub.LookupPhone(request, metadata=telephony.service_metadata())


async def test_every_phone_of_a_new_lead_is_indexed(crm):
    leads = await crm.start(leads_definition)
    telephony = await crm.start(definition)
    body = {
        "first_name": "Ali",
        "last_name": "Rezaei",
        "phones": [{"number": "۰۹۱۲ ۳۴۵ ۶۷۸۹", "kind": "mobile"}, {"number": "021 8888 1234"}],
    }
    r = await leads.http.post("/api/v1/leads", json=body, headers=leads.auth("rep", sub="rep-1"))
    assert r.status_code == 201, r.text
    lead_id = r.json()["id"]

    async def indexed():
        return (await _lookup(telephony, "+989123456789")).records

    [record] = await eventually(indexed, timeout=20.0)  # a bound for a hung run, not a latency figure
    assert (record.service, record.record_type, record.id) == ("leads", "lead", lead_id)
    # the landline too, looked up in its national form with Persian digits
    found = await _lookup(telephony, "۰۲۱-۸۸۸۸-۱۲۳۴", "IR")
    assert found.e164 == "+982188881234" and [r.id for r in found.records] == [lead_id]

    # REST: any signed-in role; E.164 with its "+" in the path, or a national form plus a region
    r = await telephony.http.get("/api/v1/phone-index/+982188881234", headers=telephony.auth("manager"))
    assert r.status_code == 200 and [x["id"] for x in r.json()["records"]] == [lead_id]
    r = await telephony.http.get(
        "/api/v1/phone-index/0912 345 6789", params={"region": "IR"}, headers=telephony.auth("rep")
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "e164": "+989123456789",
        "records": [
            {
                "service": "leads",
                "record_type": "lead",
                "id": lead_id,
                "display_name": "Ali Rezaei",
                "owner_id": "rep-1",
            }
        ],
    }


async def test_a_redelivered_lead_event_is_applied_once(crm):
    leads = await crm.start(leads_definition)
    telephony = await crm.start(definition)
    body = {"company": "Once Ltd", "phones": [{"number": "+36 30 123 4567"}]}
    assert (await leads.http.post("/api/v1/leads", json=body, headers=leads.auth())).status_code == 201

    async def indexed():
        return await _rows(telephony) == 1

    await eventually(indexed, timeout=20.0)

    # the same stream message again (same Nats-Msg-Id), as after a lost ack
    nc = leads.runtime.nc
    assert nc is not None
    psub = await nc.jetstream().pull_subscribe(LEAD_CREATED, stream="CRM_LEADS")
    [msg] = await psub.fetch(1, timeout=2.0)
    consumer = next(c for c in telephony.runtime.consumers if c.sub.durable == "telephony_on_lead_created")
    assert await consumer.process(msg) == "duplicate"
    assert await _rows(telephony) == 1
    await psub.unsubscribe()


async def test_a_contact_created_in_deals_is_indexed(crm):
    deals = await crm.start(deals_definition)
    telephony = await crm.start(definition)
    body = {
        "first_name": "Dana",
        "last_name": "Levi",
        "phones": [{"number": "052-345-6789"}],
        "default_region": "IL",
    }
    r = await deals.http.post("/api/v1/contacts", json=body, headers=deals.auth("rep", sub="rep-2"))
    assert r.status_code == 201, r.text

    async def indexed():
        return (await _lookup(telephony, "+972523456789")).records

    [record] = await eventually(indexed, timeout=20.0)  # a bound for a hung run, not a latency figure
    assert (record.service, record.record_type, record.id) == ("deals", "contact", r.json()["id"])


async def test_invalid_phone_and_unimplemented_click_to_call(crm):
    telephony = await crm.start(definition, wait_nats=False)
    stub = telephony_pb2_grpc.TelephonyServiceStub(telephony.grpc_channel)
    md = telephony.service_metadata()

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.LookupPhone(telephony_pb2.LookupPhoneRequest(phone="12345"), metadata=md)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(err.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details)
    assert [v.field for v in bad.field_violations] == ["phone"]

    # an unknown but valid number is not an error: it simply has no records
    found = await stub.LookupPhone(telephony_pb2.LookupPhoneRequest(phone="+36 1 234 5678"), metadata=md)
    assert found.e164 == "+3612345678" and list(found.records) == []

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ClickToCall(
            telephony_pb2.ClickToCallRequest(agent_id="a", phone="+989123456789"), metadata=md
        )
    assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED

    r = await telephony.http.get("/api/v1/phone-index/not-a-phone", headers=telephony.auth("rep"))
    assert r.status_code == 422 and r.json()["type"].endswith("/invalid-phone")
    assert (await telephony.http.get("/api/v1/phone-index/+989123456789")).status_code == 401
    r = await telephony.http.get(
        "/api/v1/phone-index/09123456789", params={"region": "IRN"}, headers=telephony.auth()
    )
    assert r.status_code == 422
