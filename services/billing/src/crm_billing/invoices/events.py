"""Proto conversions of invoices. Billing publishes no events yet: crm.billing.invoice.paid arrives with
payments."""

from __future__ import annotations

from crm.billing.v1 import billing_pb2
from crm.common.v1 import money_pb2

from crm_billing.invoices.models import Invoice

STATUSES = {
    "draft": billing_pb2.INVOICE_STATUS_DRAFT,
    "issued": billing_pb2.INVOICE_STATUS_ISSUED,
    "paid": billing_pb2.INVOICE_STATUS_PAID,
    "void": billing_pb2.INVOICE_STATUS_VOID,
}


def invoice_to_proto(invoice: Invoice) -> billing_pb2.Invoice:
    return billing_pb2.Invoice(
        id=str(invoice.id),
        number=invoice.number or "",
        customer_id=str(invoice.customer_id),
        total=money_pb2.Money(currency_code=invoice.currency, amount=f"{invoice.total:.2f}"),
        status=STATUSES.get(invoice.status, billing_pb2.INVOICE_STATUS_UNSPECIFIED),
    )
