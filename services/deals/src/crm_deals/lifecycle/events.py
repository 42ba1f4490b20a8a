"""Subject and builder of crm.deals.customer.lifecycle_changed (notify can thank a returning buyer)."""

from __future__ import annotations

from crm.deals.v1 import events_pb2

from crm_deals.organizations.models import Contact, Organization

CUSTOMER_LIFECYCLE_CHANGED = "crm.deals.customer.lifecycle_changed"
INVOICE_PAID = "crm.billing.invoice.paid"


def lifecycle_changed(
    kind: str, customer: Organization | Contact, old: str
) -> events_pb2.CustomerLifecycleChanged:
    return events_pb2.CustomerLifecycleChanged(
        customer_kind=kind,
        customer_id=str(customer.id),
        old_status=old,
        new_status=customer.buyer_status,
        paid_invoices=customer.paid_invoices,
        owner_id=customer.owner_id or "",
    )
