"""A service whose database cannot be reached answers 503 problem+json with Retry-After over REST and
UNAVAILABLE over gRPC (clients retry), never a 500, and says so on /readyz."""

from __future__ import annotations

import grpc
import pytest
from crm.leads.v1 import leads_pb2, leads_pb2_grpc
from crm_leads.app import definition
from crm_platform import embedded


async def test_unreachable_database_is_503_and_unavailable_not_500(crm):
    dead = f"postgresql+asyncpg://postgres@127.0.0.1:{embedded.free_port()}/nowhere"
    leads = await crm.start(definition, database_url=dead)

    r = await leads.http.post("/api/v1/leads", json={"company": "Acme"}, headers=leads.auth())
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"].endswith("/unavailable")

    r = await leads.http.get("/api/v1/leads", headers=leads.auth())
    assert r.status_code == 503

    r = await leads.http.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["database"].startswith("error")

    stub = leads_pb2_grpc.LeadsServiceStub(leads.grpc_channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateLead(
            leads_pb2.CreateLeadRequest(lead=leads_pb2.LeadInput(company="Acme")),
            metadata=leads.service_metadata(),
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
