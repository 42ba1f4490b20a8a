"""REST edge for reps, assignment rules, manual reassignment and decision history."""

from __future__ import annotations

import uuid

from crm_platform.http import CurrentUser, DbSession
from fastapi import APIRouter, Request, Response, status

from crm_leads.assignment.schemas import AssignRequest, DecisionOut, RepIn, RepOut, RuleIn, RuleOut
from crm_leads.assignment.service import AssignmentService
from crm_leads.leads.router import lead_service
from crm_leads.leads.schemas import LeadOut

router = APIRouter(prefix="/api/v1", tags=["assignment"])


def _svc(request: Request, session: DbSession) -> AssignmentService:
    return AssignmentService(session, request.app.state.runtime.settings.first_followup_minutes)


@router.put("/reps/{rep_id}", response_model=RepOut)
async def upsert_rep(
    rep_id: str, body: RepIn, request: Request, session: DbSession, user: CurrentUser
) -> RepOut:
    user.require("admin", "manager")
    return RepOut.model_validate(await _svc(request, session).upsert_rep(rep_id, body.model_dump()))


@router.get("/reps", response_model=list[RepOut])
async def list_reps(
    request: Request, session: DbSession, user: CurrentUser, team: str | None = None
) -> list[RepOut]:
    user.require("admin", "manager")
    return [RepOut.model_validate(r) for r in await _svc(request, session).list_reps(team)]


@router.get("/reps/{rep_id}", response_model=RepOut)
async def get_rep(rep_id: str, request: Request, session: DbSession, user: CurrentUser) -> RepOut:
    if rep_id != user.subject:
        user.require("admin", "manager")
    return RepOut.model_validate(await _svc(request, session).get_rep(rep_id))


@router.post("/assignment-rules", status_code=status.HTTP_201_CREATED, response_model=RuleOut)
async def create_rule(body: RuleIn, request: Request, session: DbSession, user: CurrentUser) -> RuleOut:
    user.require("admin", "manager")
    return RuleOut.model_validate(await _svc(request, session).create_rule(body.model_dump()))


@router.get("/assignment-rules", response_model=list[RuleOut])
async def list_rules(request: Request, session: DbSession, user: CurrentUser) -> list[RuleOut]:
    user.require("admin", "manager")
    return [RuleOut.model_validate(r) for r in await _svc(request, session).list_rules()]


@router.put("/assignment-rules/{rule_id}", response_model=RuleOut)
async def update_rule(
    rule_id: uuid.UUID, body: RuleIn, request: Request, session: DbSession, user: CurrentUser
) -> RuleOut:
    user.require("admin", "manager")
    return RuleOut.model_validate(await _svc(request, session).update_rule(rule_id, body.model_dump()))


@router.delete("/assignment-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(
    rule_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> Response:
    user.require("admin", "manager")
    await _svc(request, session).delete_rule(rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/leads/{lead_id}/assign", response_model=LeadOut)
async def assign_lead(
    lead_id: uuid.UUID, body: AssignRequest, request: Request, session: DbSession, user: CurrentUser
) -> LeadOut:
    lead = await lead_service(request, session).assign(lead_id, body.owner_id, user, body.reason)
    return LeadOut.model_validate(lead)


@router.get("/leads/{lead_id}/assignments", response_model=list[DecisionOut])
async def lead_assignments(
    lead_id: uuid.UUID, request: Request, session: DbSession, user: CurrentUser
) -> list[DecisionOut]:
    await lead_service(request, session).get(lead_id, user)
    return [DecisionOut.model_validate(d) for d in await _svc(request, session).decisions(lead_id)]
