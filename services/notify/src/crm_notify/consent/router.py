"""REST edge for contact-point preferences and consent, and the public unsubscribe/confirm pages."""

from __future__ import annotations

import html
from typing import Literal
from urllib.parse import quote

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from crm_notify.addresses import normalise
from crm_notify.consent.schemas import ConsentIn, ConsentOut, ContactPointOut, PreferencesIn
from crm_notify.consent.service import ConsentService, read_unsubscribe_token

router = APIRouter(prefix="/api/v1", tags=["consent"])
ChannelName = Literal["email", "sms", "fax"]
Purpose = Literal["transactional", "service", "marketing"]


def _address(request: Request, channel: str, address: str) -> str:
    return normalise(channel, address, request.app.state.runtime.settings.default_phone_region, "address")


async def _out(service: ConsentService, channel: str, address: str) -> ContactPointOut:
    point, consents = await service.preferences(channel, address)
    return ContactPointOut(
        channel=channel,
        address=address,
        timezone=point.timezone if point else "UTC",
        quiet_start=point.quiet_start if point else None,
        quiet_end=point.quiet_end if point else None,
        consents=[ConsentOut.model_validate(c) for c in consents],
    )


@router.get("/contact-points/{channel}/{address}", response_model=ContactPointOut)
async def get_contact_point(
    channel: ChannelName, address: str, request: Request, session: DbSession, user: CurrentUser
) -> ContactPointOut:
    return await _out(ConsentService(session), channel, _address(request, channel, address))


@router.put("/contact-points/{channel}/{address}/preferences", response_model=ContactPointOut)
async def set_preferences(
    channel: ChannelName,
    address: str,
    body: PreferencesIn,
    request: Request,
    session: DbSession,
    user: CurrentUser,
) -> ContactPointOut:
    address = _address(request, channel, address)
    service = ConsentService(session)
    await service.set_preferences(channel, address, body, user)
    return await _out(service, channel, address)


@router.put("/contact-points/{channel}/{address}/consents/{purpose}", response_model=ConsentOut)
async def set_consent(
    channel: ChannelName,
    address: str,
    purpose: Purpose,
    body: ConsentIn,
    request: Request,
    session: DbSession,
    user: CurrentUser,
) -> ConsentOut:
    address = _address(request, channel, address)
    return ConsentOut.model_validate(
        await ConsentService(session).set_consent(channel, address, purpose, body, user)
    )


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status_code,
    )


def _form(action: str, token: str, label: str) -> str:
    target = f"{action}?token={quote(token, safe='')}"
    return (
        f'<form method="post" action="{html.escape(target)}">'
        f'<button type="submit">{html.escape(label)}</button></form>'
    )


# Public pages (no bearer token: the signed link is the credential). GET never changes anything, so
# mail scanners that prefetch links cannot unsubscribe or confirm on the recipient's behalf.
@router.get("/public/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe_page(request: Request, token: str = Query(..., max_length=2000)) -> HTMLResponse:
    channel, address, purpose = read_unsubscribe_token(request.app.state.runtime.settings.link_secret, token)  # noqa: RUF059
    return _page(
        "Unsubscribe",
        f"<p>Stop {html.escape(purpose)} messages to {html.escape(address)}?</p>"
        + _form("/api/v1/public/unsubscribe", token, "Unsubscribe"),
    )


@router.post("/public/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe(
    request: Request, session: DbSession, token: str = Query(..., max_length=2000)
) -> HTMLResponse:
    """Also the RFC 8058 one-click target (List-Unsubscribe-Post: List-Unsubscribe=One-Click)."""
    channel, address, purpose = read_unsubscribe_token(request.app.state.runtime.settings.link_secret, token)
    await ConsentService(session).opt_out(channel, address, purpose, source="unsubscribe_link")
    return _page(
        "Unsubscribed", f"<p>{html.escape(address)} will get no more {html.escape(purpose)} messages.</p>"
    )


@router.get("/public/consents/confirm", response_class=HTMLResponse, include_in_schema=False)
async def confirm_page(token: str = Query(..., max_length=200)) -> HTMLResponse:
    return _page("Confirm your subscription", _form("/api/v1/public/consents/confirm", token, "Confirm"))


@router.post("/public/consents/confirm", response_class=HTMLResponse, include_in_schema=False)
async def confirm(session: DbSession, token: str = Query(..., max_length=200)) -> HTMLResponse:
    consent = await ConsentService(session).confirm(token)
    return _page("Subscription confirmed", f"<p>{html.escape(consent.address)} is subscribed.</p>")
