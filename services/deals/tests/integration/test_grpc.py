"""The gRPC edge of deals: crm.deals.v1.DealsService."""

from __future__ import annotations

import uuid

import grpc
import pytest
from crm.deals.v1 import deals_pb2, deals_pb2_grpc
from crm_deals.app import definition


async def test_get_organization_over_grpc(crm):
    deals = await crm.start(definition, wait_nats=False)
    body = {
        "name": "Acme",
        "domain": "acme.hu",
        "phones": [{"number": "06 30 123 4567", "kind": "mobile"}],
        "default_region": "HU",
    }
    r = await deals.http.post("/api/v1/organizations", json=body, headers=deals.auth("rep", sub="rep-1"))
    org_id = r.json()["id"]
    stub = deals_pb2_grpc.DealsServiceStub(deals.grpc_channel)

    got = await stub.GetOrganization(
        deals_pb2.GetOrganizationRequest(id=org_id), metadata=deals.service_metadata()
    )
    assert (got.organization.name, got.organization.domain, got.organization.owner_id) == (
        "Acme",
        "acme.hu",
        "rep-1",
    )
    assert [p.e164 for p in got.organization.phones] == ["+36301234567"]

    # a user JWT forwarded by the gateway keeps its role rules
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetOrganization(
            deals_pb2.GetOrganizationRequest(id=org_id), metadata=deals.user_metadata("rep", sub="rep-2")
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    md = deals.service_metadata()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetOrganization(deals_pb2.GetOrganizationRequest(id=str(uuid.uuid4())), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetOrganization(deals_pb2.GetOrganizationRequest(id="not-a-uuid"), metadata=md)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetOpportunity(deals_pb2.GetOpportunityRequest(id=str(uuid.uuid4())), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
