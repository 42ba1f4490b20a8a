"""REST edge for notification rules."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Query, Response, status

from crm_notify.rules.schemas import RuleIn, RuleOut
from crm_notify.rules.service import RuleService

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=RuleOut)
async def create_rule(body: RuleIn, session: DbSession, user: CurrentUser) -> RuleOut:
    return RuleOut.model_validate(await RuleService(session).create(body, user))


@router.get("", response_model=list[RuleOut])
async def list_rules(
    session: DbSession, user: CurrentUser, event_subject: str | None = Query(None, max_length=255)
) -> list[RuleOut]:
    return [RuleOut.model_validate(r) for r in await RuleService(session).search(user, event_subject)]


@router.get("/{rule_id}", response_model=RuleOut)
async def get_rule(rule_id: uuid.UUID, session: DbSession, user: CurrentUser) -> RuleOut:
    return RuleOut.model_validate(await RuleService(session).get(rule_id, user))


@router.put("/{rule_id}", response_model=RuleOut)
async def replace_rule(rule_id: uuid.UUID, body: RuleIn, session: DbSession, user: CurrentUser) -> RuleOut:
    return RuleOut.model_validate(await RuleService(session).replace(rule_id, body, user))


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: uuid.UUID, session: DbSession, user: CurrentUser) -> Response:
    await RuleService(session).delete(rule_id, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
