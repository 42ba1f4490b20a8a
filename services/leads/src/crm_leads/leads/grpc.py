"""gRPC edge: crm.leads.v1.LeadsService (thin: proto <-> schemas, call the service)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from crm.leads.v1 import leads_pb2, leads_pb2_grpc
from crm_platform.errors import ValidationFailed
from crm_platform.grpc import Registration, principal
from crm_platform.ids import parse_id
from pydantic import ValidationError

from crm_leads.leads.events import PHONE_KIND_NAMES, lead_to_proto
from crm_leads.leads.schemas import LeadCreate, PhoneIn
from crm_leads.leads.service import LeadService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


def lead_input(msg: leads_pb2.LeadInput, prefix: str = "") -> LeadCreate:
    try:
        return LeadCreate(
            first_name=msg.first_name,
            last_name=msg.last_name,
            company=msg.company,
            title=msg.title,
            emails=list(msg.emails),
            phones=[PhoneIn(number=p.e164, kind=PHONE_KIND_NAMES.get(p.kind, "work")) for p in msg.phones],
            source=msg.source,
            description=msg.description,
            default_region=msg.default_region or None,
        )
    except ValidationError as exc:
        raise ValidationFailed(
            {prefix + ".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()}
        ) from None


class LeadsServicer(leads_pb2_grpc.LeadsServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.region: str = getattr(runtime.settings, "default_phone_region", "IR")

    async def CreateLead(
        self, request: leads_pb2.CreateLeadRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.CreateLeadResponse:
        data = lead_input(request.lead)
        async with self.runtime.unit_of_work() as session:
            lead = await LeadService(session, self.region).create(data, principal())
        return leads_pb2.CreateLeadResponse(lead=lead_to_proto(lead))

    async def BatchCreateLeads(
        self, request: leads_pb2.BatchCreateLeadsRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.BatchCreateLeadsResponse:
        if not request.leads:
            raise ValidationFailed({"leads": "at least one lead is required"})
        items = [lead_input(m, f"leads.{i}.") for i, m in enumerate(request.leads)]
        async with self.runtime.unit_of_work() as session:
            leads = await LeadService(session, self.region).create_many(items, principal())
        return leads_pb2.BatchCreateLeadsResponse(leads=[lead_to_proto(x) for x in leads])

    async def GetLead(
        self, request: leads_pb2.GetLeadRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.GetLeadResponse:
        lead_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            lead = await LeadService(session, self.region).get(lead_id, principal())
        return leads_pb2.GetLeadResponse(lead=lead_to_proto(lead))


def registration(runtime: Runtime) -> Registration:
    return (
        leads_pb2_grpc.add_LeadsServiceServicer_to_server,
        LeadsServicer(runtime),
        leads_pb2.DESCRIPTOR.services_by_name["LeadsService"].full_name,
    )
