"""gRPC edge of opportunities (methods of crm.deals.v1.DealsService, thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from crm.deals.v1 import deals_pb2
from crm_platform.grpc import principal
from crm_platform.ids import parse_id

from crm_deals.opportunities.events import opportunity_to_proto
from crm_deals.opportunities.service import OpportunityService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class OpportunityRpcs:
    runtime: Runtime

    async def GetOpportunity(
        self, request: deals_pb2.GetOpportunityRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetOpportunityResponse:
        opportunity_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            opportunity = await OpportunityService(session).get(opportunity_id, principal())
        return deals_pb2.GetOpportunityResponse(opportunity=opportunity_to_proto(opportunity))
