"""REST edge for notifications: send (202 + id), read, status history, retry, provider receipts,
and the double opt-in request (it sends the confirmation message)."""

from __future__ import annotations

import uuid
from typing import Literal

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Header, Query, status

from crm_notify.messages.schemas import (
    AttemptOut,
    HistoryOut,
    MessageOut,
    MessagePage,
    OptInRequestIn,
    OptInRequestOut,
    ReceiptIn,
    ReceiptOut,
    SendIn,
    SendOut,
    StatusChangeOut,
)
from crm_notify.messages.service import MessageService
from crm_notify.providers.base import Receipt

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.post("/notifications", status_code=status.HTTP_202_ACCEPTED, response_model=SendOut)
async def send_notification(
    body: SendIn,
    session: DbSession,
    user: CurrentUser,
    idempotency_key: str | None = Header(None, max_length=200),
) -> SendOut:
    if idempotency_key and not body.idempotency_key:
        body.idempotency_key = idempotency_key
    message, duplicate = await MessageService(session).send(body, user)
    return SendOut(id=message.id, status=message.status, duplicate=duplicate)


@router.get("/notifications", response_model=MessagePage)
async def list_notifications(
    session: DbSession,
    user: CurrentUser,
    status_: str | None = Query(None, alias="status", max_length=20),
    recipient: str | None = Query(None, max_length=320),
    limit: int = Query(50, ge=1, le=500),
) -> MessagePage:
    found = await MessageService(session).search(user, status_, recipient, limit)
    return MessagePage(items=[MessageOut.model_validate(m) for m in found])


@router.get("/notifications/{message_id}", response_model=MessageOut)
async def get_notification(message_id: uuid.UUID, session: DbSession, user: CurrentUser) -> MessageOut:
    return MessageOut.model_validate(await MessageService(session).get(message_id, user))


@router.get("/notifications/{message_id}/history", response_model=HistoryOut)
async def notification_history(message_id: uuid.UUID, session: DbSession, user: CurrentUser) -> HistoryOut:
    message, statuses, attempts, receipts = await MessageService(session).history(message_id, user)
    return HistoryOut(
        message=MessageOut.model_validate(message),
        statuses=[StatusChangeOut.model_validate(s) for s in statuses],
        attempts=[AttemptOut.model_validate(a) for a in attempts],
        receipts=[ReceiptOut.model_validate(r) for r in receipts],
    )


@router.post("/notifications/{message_id}/retry", response_model=MessageOut)
async def retry_notification(message_id: uuid.UUID, session: DbSession, user: CurrentUser) -> MessageOut:
    return MessageOut.model_validate(await MessageService(session).retry(message_id, user))


@router.post("/receipts/{provider}", response_model=dict[str, str])
async def provider_receipt(
    provider: str,
    body: ReceiptIn,
    session: DbSession,
    x_webhook_token: str | None = Header(None, max_length=200),
) -> dict[str, str]:
    """Delivery callback of a generic HTTP provider, authenticated by the provider's webhook_token."""
    state = body.status.lower()
    mapped = (
        "delivered"
        if state in ("delivered", "delivrd", "done")
        else "undeliverable"
        if state in ("failed", "undeliverable", "undeliv", "rejected", "expired")
        else "pending"
    )
    outcome = await MessageService(session).webhook_receipt(
        provider, x_webhook_token, Receipt(body.id, mapped, body.code or state, body.model_dump_json())
    )
    return {"outcome": outcome}


@router.post(
    "/contact-points/{channel}/{address}/consents/marketing/opt-in-request",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=OptInRequestOut,
)
async def request_opt_in(
    channel: Literal["email", "sms"],
    address: str,
    body: OptInRequestIn,
    session: DbSession,
    user: CurrentUser,
) -> OptInRequestOut:
    consent_status, message = await MessageService(session).request_opt_in(
        channel, address, body.locale, body.source, user
    )
    return OptInRequestOut(status=consent_status, confirmation_message_id=message.id)
