"""crm.deals.v1.DealsService: one servicer composed of each domain's RPC mixin (every domain keeps its
methods in its own grpc.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm.deals.v1 import deals_pb2, deals_pb2_grpc
from crm_platform.grpc import Registration

from crm_deals.conversion.grpc import ConversionRpcs
from crm_deals.opportunities.grpc import OpportunityRpcs
from crm_deals.organizations.grpc import OrganizationRpcs
from crm_deals.reports.grpc import ReportRpcs

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class DealsServicer(
    OrganizationRpcs, OpportunityRpcs, ConversionRpcs, ReportRpcs, deals_pb2_grpc.DealsServiceServicer
):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime


def registration(runtime: Runtime) -> Registration:
    return (
        deals_pb2_grpc.add_DealsServiceServicer_to_server,
        DealsServicer(runtime),
        deals_pb2.DESCRIPTOR.services_by_name["DealsService"].full_name,
    )
