"""gRPC edge: crm.deals.v1.DealsService (thin: proto <-> service)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from crm.deals.v1 import deals_pb2, deals_pb2_grpc
from crm_platform.grpc import Registration, principal
from crm_platform.ids import parse_id

from crm_deals.organizations.events import organization_to_proto
from crm_deals.organizations.service import OrganizationService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class DealsServicer(deals_pb2_grpc.DealsServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def GetOrganization(
        self, request: deals_pb2.GetOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetOrganizationResponse:
        organization_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            organization = await OrganizationService(session).get_organization(organization_id, principal())
        return deals_pb2.GetOrganizationResponse(organization=organization_to_proto(organization))

    async def GetOpportunity(
        self, request: deals_pb2.GetOpportunityRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetOpportunityResponse:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "GetOpportunity arrives with the opportunities issue"
        )
        raise AssertionError("unreachable: abort raises")


def registration(runtime: Runtime) -> Registration:
    return (
        deals_pb2_grpc.add_DealsServiceServicer_to_server,
        DealsServicer(runtime),
        deals_pb2.DESCRIPTOR.services_by_name["DealsService"].full_name,
    )
