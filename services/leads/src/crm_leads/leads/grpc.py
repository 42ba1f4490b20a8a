"""gRPC edge: crm.leads.v1.LeadsService (thin: proto <-> schemas, call the service)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import grpc
from crm.leads.v1 import leads_pb2, leads_pb2_grpc
from crm_platform.contact_points import PHONE_KIND_NAMES
from crm_platform.errors import ValidationFailed
from crm_platform.grpc import Registration, principal
from crm_platform.ids import parse_id
from pydantic import ValidationError

from crm_leads.leads.events import STATUS_NAMES, lead_to_proto
from crm_leads.leads.schemas import LeadCreate, PhoneIn
from crm_leads.leads.service import LeadService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


def lead_input(msg: leads_pb2.LeadInput, prefix: str = "") -> LeadCreate:
    try:
        custom: Any = json.loads(msg.custom_fields_json) if msg.custom_fields_json else {}
    except json.JSONDecodeError:
        raise ValidationFailed({f"{prefix}custom_fields_json": "must be a JSON object"}) from None
    try:
        return LeadCreate(
            first_name=msg.first_name,
            last_name=msg.last_name,
            company=msg.company,
            title=msg.title,
            emails=list(msg.emails),
            phones=[PhoneIn(number=p.e164, kind=PHONE_KIND_NAMES.get(p.kind, "work")) for p in msg.phones],
            source=msg.source,
            campaign=msg.campaign,
            country=msg.country,
            industry=msg.industry,
            rating=msg.rating,  # type: ignore[arg-type]
            annual_revenue=msg.annual_revenue or None,  # type: ignore[arg-type]
            employee_count=msg.employee_count or None,
            website=msg.website,
            national_id=msg.national_id,
            messenger_id=msg.messenger_id,
            custom_fields=custom,
            do_not_email=msg.do_not_email,
            do_not_call=msg.do_not_call,
            do_not_fax=msg.do_not_fax,
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

    def _service(self, session: Any) -> LeadService:
        return LeadService.of(session, self.runtime.settings)

    async def CreateLead(
        self, request: leads_pb2.CreateLeadRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.CreateLeadResponse:
        lead = await LeadService.create_grouped(self.runtime, lead_input(request.lead), principal())
        return leads_pb2.CreateLeadResponse(lead=lead_to_proto(lead))

    async def BatchCreateLeads(
        self, request: leads_pb2.BatchCreateLeadsRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.BatchCreateLeadsResponse:
        if not request.leads:
            raise ValidationFailed({"leads": "at least one lead is required"})
        if len(request.leads) > 1000:
            raise ValidationFailed({"leads": "at most 1000 leads per batch"})
        items = [lead_input(m, f"leads.{i}.") for i, m in enumerate(request.leads)]
        async with self.runtime.unit_of_work() as session:
            leads = await self._service(session).create_many(items, principal())
        return leads_pb2.BatchCreateLeadsResponse(leads=[lead_to_proto(x) for x in leads])

    async def GetLead(
        self, request: leads_pb2.GetLeadRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.GetLeadResponse:
        lead_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            lead = await self._service(session).get(lead_id, principal())
        return leads_pb2.GetLeadResponse(lead=lead_to_proto(lead))

    async def MergeLeads(
        self, request: leads_pb2.MergeLeadsRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.MergeLeadsResponse:
        lead_id, other_id = parse_id(request.id), parse_id(request.other_id, "other_id")
        async with self.runtime.unit_of_work() as session:
            lead = await self._service(session).merge(lead_id, other_id, principal())
        return leads_pb2.MergeLeadsResponse(lead=lead_to_proto(lead))

    async def AssignLead(
        self, request: leads_pb2.AssignLeadRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.AssignLeadResponse:
        lead_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            lead = await self._service(session).assign(
                lead_id, request.owner_id or None, principal(), request.reason
            )
        return leads_pb2.AssignLeadResponse(lead=lead_to_proto(lead))

    async def ChangeLeadStatus(
        self, request: leads_pb2.ChangeLeadStatusRequest, context: grpc.aio.ServicerContext
    ) -> leads_pb2.ChangeLeadStatusResponse:
        lead_id = parse_id(request.id)
        status = STATUS_NAMES.get(request.status)
        if status is None:
            raise ValidationFailed({"status": "a status is required"})
        async with self.runtime.unit_of_work() as session:
            lead = await self._service(session).change_status(lead_id, status, principal(), request.reason)
        return leads_pb2.ChangeLeadStatusResponse(lead=lead_to_proto(lead))


def registration(runtime: Runtime) -> Registration:
    return (
        leads_pb2_grpc.add_LeadsServiceServicer_to_server,
        LeadsServicer(runtime),
        leads_pb2.DESCRIPTOR.services_by_name["LeadsService"].full_name,
    )
