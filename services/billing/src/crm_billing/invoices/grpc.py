"""gRPC edge: crm.billing.v1.BillingService (thin: proto <-> service)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from crm.billing.v1 import billing_pb2, billing_pb2_grpc
from crm_platform.grpc import Registration, principal
from crm_platform.ids import parse_id

from crm_billing.invoices.events import invoice_to_proto
from crm_billing.invoices.service import InvoiceService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class BillingServicer(billing_pb2_grpc.BillingServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def GetInvoice(
        self, request: billing_pb2.GetInvoiceRequest, context: grpc.aio.ServicerContext
    ) -> billing_pb2.GetInvoiceResponse:
        invoice_id = parse_id(request.id)
        async with self.runtime.unit_of_work() as session:
            invoice = await InvoiceService(session).get(invoice_id, principal())
        return billing_pb2.GetInvoiceResponse(invoice=invoice_to_proto(invoice))


def registration(runtime: Runtime) -> Registration:
    return (
        billing_pb2_grpc.add_BillingServiceServicer_to_server,
        BillingServicer(runtime),
        billing_pb2.DESCRIPTOR.services_by_name["BillingService"].full_name,
    )
