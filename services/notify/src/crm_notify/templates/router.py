"""REST edge for templates and the preview endpoint."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Response, status

from crm_notify.templates.schemas import PreviewIn, PreviewOut, TemplateIn, TemplateOut
from crm_notify.templates.service import TemplateService, template_out

router = APIRouter(prefix="/api/v1/templates", tags=["templates"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TemplateOut)
async def create_template(body: TemplateIn, session: DbSession, user: CurrentUser) -> TemplateOut:
    return TemplateOut.model_validate(template_out(await TemplateService(session).create(body, user)))


@router.get("", response_model=list[TemplateOut])
async def list_templates(
    session: DbSession,
    user: CurrentUser,
    key: str | None = Query(None, max_length=100),
    channel: str | None = Query(None, max_length=10),
    locale: str | None = Query(None, max_length=5),
) -> list[TemplateOut]:
    found = await TemplateService(session).search(user, key, channel, locale)
    return [TemplateOut.model_validate(template_out(t)) for t in found]


@router.post("/preview", response_model=PreviewOut)
async def preview_template(body: PreviewIn, session: DbSession, user: CurrentUser) -> PreviewOut:
    return await TemplateService(session).preview(
        body, user, unsubscribe_url="https://example.invalid/unsubscribe"
    )


@router.get("/{template_id}", response_model=TemplateOut)
async def get_template(template_id: uuid.UUID, session: DbSession, user: CurrentUser) -> TemplateOut:
    return TemplateOut.model_validate(template_out(await TemplateService(session).get(template_id, user)))


@router.put("/{template_id}", response_model=TemplateOut)
async def replace_template(
    template_id: uuid.UUID, body: TemplateIn, session: DbSession, user: CurrentUser
) -> TemplateOut:
    return TemplateOut.model_validate(
        template_out(await TemplateService(session).replace(template_id, body, user))
    )


@router.delete("/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_template(template_id: uuid.UUID, session: DbSession, user: CurrentUser) -> Response:
    await TemplateService(session).delete(template_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
