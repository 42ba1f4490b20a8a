import uuid
from decimal import Decimal

from crm.billing.v1 import billing_pb2
from crm_billing.invoices.events import invoice_to_proto
from crm_billing.invoices.models import Invoice


def _invoice(total: str, status: str = "draft", number: str | None = None) -> Invoice:
    return Invoice(
        id=uuid.uuid4(),
        customer_id=uuid.uuid4(),
        currency="EUR",
        total=Decimal(total),
        status=status,
        number=number,
    )


def test_money_is_a_two_decimal_string_never_a_float() -> None:
    assert invoice_to_proto(_invoice("5")).total.amount == "5.00"
    assert invoice_to_proto(_invoice("0.1")).total.amount == "0.10"
    assert invoice_to_proto(_invoice("9999999999999999.99")).total.amount == "9999999999999999.99"


def test_status_and_number_are_mapped() -> None:
    msg = invoice_to_proto(_invoice("1", status="paid", number="INV-2026-000001"))
    assert msg.status == billing_pb2.INVOICE_STATUS_PAID and msg.number == "INV-2026-000001"
    assert invoice_to_proto(_invoice("1", status="void")).status == billing_pb2.INVOICE_STATUS_VOID
    assert invoice_to_proto(_invoice("1")).number == ""
