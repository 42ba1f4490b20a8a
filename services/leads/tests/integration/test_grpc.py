"""The gRPC edge of leads: crm.leads.v1.LeadsService, health and error details."""

from __future__ import annotations

import uuid

import grpc
import pytest
from crm.common.v1 import contact_point_pb2
from crm.leads.v1 import leads_pb2, leads_pb2_grpc
from crm_leads.app import definition
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status


async def test_create_then_get_over_grpc(crm):
    leads = await crm.start(definition)
    stub = leads_pb2_grpc.LeadsServiceStub(leads.grpc_channel)
    md = leads.service_metadata()
    phone = contact_point_pb2.Phone(e164="052-345-6789", kind=contact_point_pb2.PHONE_KIND_MOBILE)
    created = await stub.CreateLead(
        leads_pb2.CreateLeadRequest(
            lead=leads_pb2.LeadInput(first_name="Dana", phones=[phone], default_region="IL")
        ),
        metadata=md,
    )
    assert created.lead.phones[0].e164 == "+972523456789"
    got = await stub.GetLead(leads_pb2.GetLeadRequest(id=created.lead.id), metadata=md)
    assert got.lead.first_name == "Dana"
    assert got.lead.status == leads_pb2.LEAD_STATUS_NEW

    # a lead created over REST is visible over gRPC
    r = await leads.http.post("/api/v1/leads", json={"company": "Acme"}, headers=leads.auth())
    got = await stub.GetLead(leads_pb2.GetLeadRequest(id=r.json()["id"]), metadata=md)
    assert got.lead.company == "Acme"


async def test_grpc_errors_carry_codes_and_field_details(crm):
    leads = await crm.start(definition)
    stub = leads_pb2_grpc.LeadsServiceStub(leads.grpc_channel)
    md = leads.service_metadata()

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateLead(
            leads_pb2.CreateLeadRequest(lead=leads_pb2.LeadInput(first_name="X", emails=["bad"])), metadata=md
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(err.value)
    assert status is not None
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details)
    assert [v.field for v in bad.field_violations] == ["emails.0"]

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetLead(leads_pb2.GetLeadRequest(id=str(uuid.uuid4())), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetLead(leads_pb2.GetLeadRequest(id="nope"), metadata=md)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetLead(leads_pb2.GetLeadRequest(id=str(uuid.uuid4())))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetLead(
            leads_pb2.GetLeadRequest(id=str(uuid.uuid4())), metadata=(("authorization", "Bearer wrong"),)
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # a user JWT forwarded by the gateway is honoured, with its role rules
    rep_md = leads.user_metadata("rep", sub="rep-9")
    created = await stub.CreateLead(
        leads_pb2.CreateLeadRequest(lead=leads_pb2.LeadInput(company="Mine")), metadata=rep_md
    )
    assert created.lead.owner_id == "rep-9"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetLead(
            leads_pb2.GetLeadRequest(id=created.lead.id), metadata=leads.user_metadata("rep", "rep-8")
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_grpc_health_reports_serving(crm):
    leads = await crm.start(definition)
    health = health_pb2_grpc.HealthStub(leads.grpc_channel)
    for name in ("", "crm.leads.v1.LeadsService"):
        resp = await health.Check(health_pb2.HealthCheckRequest(service=name))
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
