"""gRPC edge of organizations and contacts (methods of crm.deals.v1.DealsService, thin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from crm.deals.v1 import deals_pb2
from crm_platform.grpc import principal
from crm_platform.ids import parse_id

from crm_deals.organizations.events import contact_to_proto, organization_to_proto
from crm_deals.organizations.service import OrganizationService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class OrganizationRpcs:
    runtime: Runtime

    async def GetOrganization(
        self, request: deals_pb2.GetOrganizationRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetOrganizationResponse:
        organization_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            organization = await OrganizationService(session).get_organization(organization_id, principal())
        return deals_pb2.GetOrganizationResponse(organization=organization_to_proto(organization))

    async def GetContact(
        self, request: deals_pb2.GetContactRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetContactResponse:
        contact_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            contact = await OrganizationService(session).get_contact(contact_id, principal())
        return deals_pb2.GetContactResponse(contact=contact_to_proto(contact))
