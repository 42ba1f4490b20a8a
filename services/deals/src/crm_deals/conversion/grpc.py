"""gRPC edge of lead conversion (methods of crm.deals.v1.DealsService, thin). Called by the leads service
with the service token; the lead's owner and team travel in the snapshot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc
from crm.deals.v1 import deals_pb2
from crm_platform.grpc import principal
from crm_platform.ids import parse_id

from crm_deals.conversion import events
from crm_deals.conversion.service import ConversionService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class ConversionRpcs:
    runtime: Runtime

    def _conversions(self, session: Any) -> ConversionService:
        s: Any = self.runtime.settings
        return ConversionService(session, s.default_phone_region, s.default_currency)

    async def PreviewLeadConversion(
        self, request: deals_pb2.PreviewLeadConversionRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.PreviewLeadConversionResponse:
        principal().require("admin")  # the leads service (service token) only
        lead = events.lead_from_proto(request.lead)
        options = events.options_from_proto(request.options)
        async with self.runtime.sessions() as session:  # read only: nothing to commit
            plan = await self._conversions(session).preview(lead, options)
        return events.plan_to_proto(plan, max(0, request.activity_count))

    async def ConvertLead(
        self, request: deals_pb2.ConvertLeadRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.ConvertLeadResponse:
        principal().require("admin")
        conversion_id = parse_id(request.conversion_id, "conversion_id")
        lead = events.lead_from_proto(request.lead)
        activities = events.activities_from_proto(list(request.activities))
        options = events.options_from_proto(request.options)
        async with self.runtime.unit_of_work() as session:
            result = await self._conversions(session).convert(
                conversion_id, lead, activities, options, request.actor_id or "service"
            )
        return deals_pb2.ConvertLeadResponse(result=events.result_to_proto(result), replayed=result.replayed)
