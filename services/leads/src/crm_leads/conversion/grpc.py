"""gRPC edge: crm.leads.v1.LeadConversionService (thin: proto <-> schemas, call the coordinator)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

import grpc
from crm.deals.v1 import deals_pb2
from crm.leads.v1 import leads_pb2, leads_pb2_grpc
from crm_platform.errors import ValidationFailed
from crm_platform.grpc import Registration, principal
from crm_platform.ids import parse_id
from pydantic import ValidationError

from crm_leads.conversion import events
from crm_leads.conversion.schemas import ConversionOptions
from crm_leads.conversion.service import ConversionCoordinator

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


def options_from_proto(msg: deals_pb2.ConversionOptions) -> ConversionOptions:
    raw: dict[str, object] = {
        "skip_organization": msg.skip_organization,
        "opportunity_name": msg.opportunity_name,
        "next_step": msg.next_step,
    }
    try:
        for name in ("organization_id", "contact_id", "pipeline_id", "stage_id"):
            value = getattr(msg, name)
            if value:
                raw[name] = uuid.UUID(value)
        if msg.expected_close_date:
            raw["expected_close_date"] = dt.date.fromisoformat(msg.expected_close_date)
        if msg.amount.amount:
            raw["amount"] = Decimal(msg.amount.amount)
        if msg.amount.currency_code:
            raw["currency"] = msg.amount.currency_code
        return ConversionOptions.model_validate(raw)
    except (ValueError, InvalidOperation):
        raise ValidationFailed({"options": "ids must be UUIDs, dates YYYY-MM-DD, amounts decimals"}) from None
    except ValidationError as exc:
        raise ValidationFailed(
            {"options." + ".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}
        ) from None


class LeadConversionServicer(leads_pb2_grpc.LeadConversionServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _coordinator(self) -> ConversionCoordinator:
        return ConversionCoordinator(self.runtime.unit_of_work, self.runtime.settings)

    async def PreviewLeadConversion(
        self, request: leads_pb2.PreviewLeadConversionRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.PreviewLeadConversionResponse:
        lead_id = parse_id(request.id)
        preview = await self._coordinator().preview(lead_id, options_from_proto(request.options), principal())
        return events.preview_to_proto(preview)

    async def ConvertLead(
        self, request: leads_pb2.ConvertLeadRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.ConvertLeadResponse:
        lead_id = parse_id(request.id)
        conversion = await self._coordinator().convert(
            lead_id, options_from_proto(request.options), principal()
        )
        return leads_pb2.ConvertLeadResponse(conversion=events.conversion_to_proto(conversion))

    async def GetLeadConversion(
        self, request: leads_pb2.GetLeadConversionRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.GetLeadConversionResponse:
        conversion = await self._coordinator().get(parse_id(request.id), principal())
        return leads_pb2.GetLeadConversionResponse(conversion=events.conversion_to_proto(conversion))


def registration(runtime: Runtime) -> Registration:
    return (
        leads_pb2_grpc.add_LeadConversionServiceServicer_to_server,
        LeadConversionServicer(runtime),
        leads_pb2.DESCRIPTOR.services_by_name["LeadConversionService"].full_name,
    )
