"""REST edge for invoices (thin: convert types, call the service)."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, status

from crm_billing.invoices.schemas import InvoiceCreate, InvoiceOut
from crm_billing.invoices.service import InvoiceService

router = APIRouter(prefix="/api/v1/invoices", tags=["invoices"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=InvoiceOut)
async def create_draft_invoice(body: InvoiceCreate, session: DbSession, user: CurrentUser) -> InvoiceOut:
    return InvoiceOut.model_validate(await InvoiceService(session).create_draft(body, user))


@router.get("/{invoice_id}", response_model=InvoiceOut)
async def get_invoice(invoice_id: uuid.UUID, session: DbSession, user: CurrentUser) -> InvoiceOut:
    return InvoiceOut.model_validate(await InvoiceService(session).get(invoice_id, user))
