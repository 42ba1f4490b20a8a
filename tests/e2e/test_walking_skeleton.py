"""The walking skeleton end to end: a lead created over REST is visible over gRPC, and notify and telephony
apply its crm.leads.lead.created event through their durable consumers. How fast is measured by hand on
`make run` and by the benchmarks, never asserted here (the wait below only bounds a hung run)."""

from __future__ import annotations

import asyncio

from crm.leads.v1 import leads_pb2, leads_pb2_grpc
from crm.telephony.v1 import telephony_pb2, telephony_pb2_grpc
from crm_leads.app import definition as leads_definition
from crm_notify.app import definition as notify_definition
from crm_platform.testing.harness import eventually
from crm_telephony.app import definition as telephony_definition


async def test_lead_flows_from_rest_to_grpc_notify_and_telephony(crm):
    notify = await crm.start(notify_definition)
    telephony = await crm.start(telephony_definition)
    leads = await crm.start(leads_definition)

    r = await leads.http.post(
        "/api/v1/leads",
        json={
            "first_name": "Ali",
            "company": "Acme",
            "phones": [{"number": "0912 345 6789", "kind": "mobile"}],
        },
        headers=leads.auth("admin"),
    )
    assert r.status_code == 201, r.text
    lead_id = r.json()["id"]

    got = await leads_pb2_grpc.LeadsServiceStub(leads.grpc_channel).GetLead(
        leads_pb2.GetLeadRequest(id=lead_id), metadata=leads.service_metadata()
    )
    assert got.lead.company == "Acme"

    async def notified():
        r = await notify.http.get(
            "/api/v1/observed-events",
            params={"subject": "crm.leads.lead.created"},
            headers=notify.auth("admin"),
        )
        items = r.json()["items"]
        return items if any(i["aggregate_id"] == lead_id for i in items) else None

    async def indexed():
        resp = await telephony_pb2_grpc.TelephonyServiceStub(telephony.grpc_channel).LookupPhone(
            telephony_pb2.LookupPhoneRequest(phone="+989123456789"), metadata=telephony.service_metadata()
        )
        return [x for x in resp.records if x.id == lead_id]

    items, records = await asyncio.gather(eventually(notified, timeout=15), eventually(indexed, timeout=15))
    assert len([i for i in items if i["aggregate_id"] == lead_id]) == 1
    assert records[0].service == "leads" and records[0].record_type == "lead"
