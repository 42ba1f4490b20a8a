"""Billing's walking skeleton: draft invoices over REST and gRPC, and draft expiry in a real worker."""

from __future__ import annotations

import datetime as dt
import uuid

import grpc
import pytest
from crm.billing.v1 import billing_pb2, billing_pb2_grpc
from crm_billing.app import definition
from crm_billing.invoices.models import Invoice
from crm_billing.invoices.tasks import expire_draft_invoices
from sqlalchemy import update

CUSTOMER = "01a21203-979a-73e7-9a73-8c55c0629dac"


async def test_draft_invoice_keeps_exact_money_and_follows_the_role_rules(crm):
    billing = await crm.start(definition, wait_nats=False)
    body = {"customer_id": CUSTOMER, "currency": "irr", "total": "1250000.50"}
    r = await billing.http.post("/api/v1/invoices", json=body, headers=billing.auth("rep", sub="rep-1"))
    assert r.status_code == 201, r.text
    invoice = r.json()
    assert (invoice["currency"], invoice["total"], invoice["status"]) == ("IRR", "1250000.50", "draft")
    assert invoice["number"] is None and invoice["owner_id"] == "rep-1"

    path = f"/api/v1/invoices/{invoice['id']}"
    assert (await billing.http.get(path, headers=billing.auth("rep", sub="rep-1"))).status_code == 200
    r = await billing.http.get(path, headers=billing.auth("rep", sub="rep-2"))
    assert r.status_code == 404 and r.json()["type"].endswith("/invoice-not-found")
    assert (await billing.http.get(path, headers=billing.auth("manager", team="t1"))).status_code == 200
    assert (await billing.http.get(path)).status_code == 401

    bad = {"customer_id": "x", "currency": "EURO", "total": "0.125"}
    r = await billing.http.post("/api/v1/invoices", json=bad, headers=billing.auth())
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"customer_id", "currency", "total"}
    r = await billing.http.post("/api/v1/invoices", json={**body, "total": "-1"}, headers=billing.auth())
    assert r.status_code == 422


async def test_get_invoice_over_grpc_carries_money_as_a_decimal_string(crm):
    billing = await crm.start(definition, wait_nats=False)
    body = {"customer_id": CUSTOMER, "currency": "HUF", "total": "19990"}
    invoice_id = (await billing.http.post("/api/v1/invoices", json=body, headers=billing.auth())).json()["id"]
    stub = billing_pb2_grpc.BillingServiceStub(billing.grpc_channel)
    md = billing.service_metadata()

    got = (await stub.GetInvoice(billing_pb2.GetInvoiceRequest(id=invoice_id), metadata=md)).invoice
    assert (got.id, got.customer_id, got.number) == (invoice_id, CUSTOMER, "")
    assert (got.total.currency_code, got.total.amount) == ("HUF", "19990.00")
    assert got.status == billing_pb2.INVOICE_STATUS_DRAFT

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetInvoice(billing_pb2.GetInvoiceRequest(id=str(uuid.uuid4())), metadata=md)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetInvoice(billing_pb2.GetInvoiceRequest(id="nope"), metadata=md)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_expire_draft_invoices_voids_only_stale_drafts_in_a_real_worker(crm):
    billing = await crm.start(definition, wait_nats=False, celery_worker=True)
    ids = {}
    for name in ("stale", "fresh", "stale_issued"):
        body = {"customer_id": CUSTOMER, "currency": "EUR", "total": "10"}
        ids[name] = (await billing.http.post("/api/v1/invoices", json=body, headers=billing.auth())).json()[
            "id"
        ]
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=45)
    async with billing.runtime.unit_of_work() as s:
        await s.execute(
            update(Invoice)
            .where(Invoice.id.in_([uuid.UUID(ids["stale"]), uuid.UUID(ids["stale_issued"])]))
            .values(updated_at=long_ago)
        )
        await s.execute(
            update(Invoice).where(Invoice.id == uuid.UUID(ids["stale_issued"])).values(status="issued")
        )

    assert expire_draft_invoices.delay(30).get(timeout=20) == 1
    assert expire_draft_invoices.delay(30).get(timeout=20) == 0  # idempotent

    async def status(invoice_id: str) -> str:
        return (await billing.http.get(f"/api/v1/invoices/{invoice_id}", headers=billing.auth())).json()[
            "status"
        ]

    assert await status(ids["stale"]) == "void"
    assert await status(ids["fresh"]) == "draft"
    assert await status(ids["stale_issued"]) == "issued"
