"""Lead conversion, leads side.

One operation in three short steps, because it spans two services' databases:

1. ``begin`` (one leads transaction): lock the lead row, refuse a converted/merged/junk lead (409) or one
   whose conversion is running (409), create or reuse the lead's single conversion row (its id is the
   idempotency key), snapshot the lead and its activities;
2. one deals gRPC command, ``ConvertLead``, which creates or reuses organization + contact, creates the
   opportunity and copies the activities in ONE deals transaction, keyed by the conversion id;
3. ``complete`` (one leads transaction): mark the lead converted (kept for reporting; converted leads are
   out of the work lists and take no activity), mark its activities moved, emit crm.leads.lead.converted.

If deals refuses (validation, not found), it rolled back: the conversion is ``failed`` with the reason and
the lead is untouched. If deals cannot be reached or the answer is lost, the outcome is unknown: the
conversion stays ``pending`` with the reason, and a retry (the user's, or the beat sweep's) sends the same
conversion id, so deals either returns what it already created or creates it once. Nothing is
half-done: deals never holds half a conversion, and leads marks the lead only from deals' answer.

``ConversionService`` runs inside one transaction (flushes, never commits); ``ConversionCoordinator`` is
the saga that opens those transactions around the remote call (the edges only call it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from crm.deals.v1 import deals_pb2, deals_pb2_grpc
from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import DomainError
from crm_platform.grpc_client import UpstreamUnavailable, service_client
from crm_platform.ids import new_id
from crm_platform.outbox import add_event
from sqlalchemy.ext.asyncio import AsyncSession

from crm_leads.conversion import events
from crm_leads.conversion.exceptions import (
    ConversionInProgress,
    ConversionNotFound,
    LeadAlreadyConverted,
    LeadNotConvertible,
)
from crm_leads.conversion.models import LeadConversion
from crm_leads.conversion.repository import ConversionRepository
from crm_leads.conversion.schemas import ConversionOptions, ConversionOut, PreviewOut
from crm_leads.db import tables
from crm_leads.leads.exceptions import LeadNotFound
from crm_leads.leads.models import Lead
from crm_leads.leads.repository import LeadRepository

NOT_CONVERTIBLE = ("merged", "junk")
MAX_REASON = 2000


@dataclass(frozen=True)
class Attempt:
    conversion_id: uuid.UUID
    number: int
    actor: str
    request: deals_pb2.ConvertLeadRequest


class ConversionService:
    def __init__(self, session: AsyncSession, serious_prospect_closed_tasks: int = 2) -> None:
        self.session = session
        self.repo = ConversionRepository(session)
        self.leads = LeadRepository(session)
        self.serious_after = serious_prospect_closed_tasks

    async def _visible(self, lead: Lead | None, lead_id: uuid.UUID, who: Principal) -> Lead:
        if lead is None or not who.can_see(lead.owner_id, lead.team):
            raise LeadNotFound(f"lead {lead_id} does not exist or is not yours")
        return lead

    @staticmethod
    def _check_convertible(lead: Lead, conversion: LeadConversion | None) -> None:
        if lead.status == "converted":
            detail = f"lead {lead.id} was converted"
            if conversion is not None and conversion.opportunity_id:
                detail += f" into opportunity {conversion.opportunity_id}"
            raise LeadAlreadyConverted(detail)
        if lead.status in NOT_CONVERTIBLE:
            raise LeadNotConvertible(f"a {lead.status} lead cannot be converted")

    async def preview_request(
        self, lead_id: uuid.UUID, options: ConversionOptions, who: Principal
    ) -> deals_pb2.PreviewLeadConversionRequest:
        lead = await self._visible(await self.repo.get_lead(lead_id), lead_id, who)
        self._check_convertible(lead, await self.repo.by_lead(lead.id))
        return deals_pb2.PreviewLeadConversionRequest(
            lead=events.lead_snapshot(lead),
            options=events.options_to_proto(options.model_dump(mode="json")),
            activity_count=await self.repo.activity_count(lead.id),
        )

    async def _attempt(self, lead: Lead, conversion: LeadConversion, flight: dt.timedelta) -> Attempt:
        conversion.state = "pending"
        conversion.attempts += 1
        conversion.in_flight_until = utcnow() + flight
        activities = await self.repo.activities(lead.id)
        await self.session.flush()
        request = deals_pb2.ConvertLeadRequest(
            conversion_id=str(conversion.id),
            lead=events.lead_snapshot(lead),
            activities=[events.activity_to_proto(a) for a in activities],
            options=events.options_to_proto(conversion.options),
            actor_id=conversion.requested_by,
        )
        return Attempt(conversion.id, conversion.attempts, conversion.requested_by, request)

    async def begin(
        self, lead_id: uuid.UUID, options: ConversionOptions, who: Principal, flight: dt.timedelta
    ) -> Attempt:
        lead = await self._visible(await self.repo.lock_lead(lead_id), lead_id, who)
        conversion = await self.repo.by_lead(lead.id, for_update=True)
        self._check_convertible(lead, conversion)
        now = utcnow()
        if conversion is None:
            conversion = await self.repo.add(
                LeadConversion(
                    id=new_id(),
                    lead_id=lead.id,
                    state="pending",
                    attempts=0,
                    failure_reason="",
                    options={},
                    requested_by=who.subject,
                    organization_created=False,
                    contact_created=False,
                )
            )
        elif (
            conversion.state == "pending" and conversion.in_flight_until and conversion.in_flight_until > now
        ):
            raise ConversionInProgress(f"lead {lead.id} is being converted (conversion {conversion.id})")
        # a failed or interrupted conversion is retried under the same id (see the module docstring)
        conversion.options = options.model_dump(mode="json")
        conversion.requested_by = who.subject
        await self.leads.add_audit(
            lead.id, who.subject, "conversion_requested", {"conversion_id": str(conversion.id)}
        )
        return await self._attempt(lead, conversion, flight)

    async def resume(self, conversion_id: uuid.UUID, flight: dt.timedelta) -> Attempt | None:
        """The sweep's retry of a pending conversion nobody is running; None when there is nothing to do."""
        conversion = await self.repo.get(conversion_id)
        if conversion is None:
            return None
        lead = await self.repo.lock_lead(conversion.lead_id)
        conversion = await self.repo.get(conversion_id, for_update=True)
        now = utcnow()
        if (
            lead is None
            or conversion is None
            or conversion.state != "pending"
            or (conversion.in_flight_until is not None and conversion.in_flight_until > now)
        ):
            return None
        return await self._attempt(lead, conversion, flight)

    async def fail(self, attempt: Attempt, reason: str, *, definitive: bool) -> None:
        """Record why an attempt failed; the lead stays as it was."""
        conversion = await self.repo.get(attempt.conversion_id, for_update=True)
        if conversion is None or conversion.state != "pending" or conversion.attempts != attempt.number:
            return  # completed meanwhile, or a newer attempt runs
        conversion.state = "failed" if definitive else "pending"
        conversion.in_flight_until = None
        conversion.failure_reason = reason[:MAX_REASON]
        await self.leads.add_audit(
            conversion.lead_id,
            attempt.actor,
            "conversion_failed",
            {
                "conversion_id": str(conversion.id),
                "reason": reason[:MAX_REASON],
                "will_retry": not definitive,
            },
        )
        await self.session.flush()

    async def complete(self, attempt: Attempt, result: deals_pb2.ConversionResult) -> LeadConversion:
        """Apply deals' answer: the lead becomes converted, its activities are marked moved, and
        crm.leads.lead.converted is written to the outbox. Idempotent (a second answer changes nothing)."""
        from crm_leads.automation.service import StatusService

        conversion = await self.repo.get(attempt.conversion_id)
        assert conversion is not None
        lead = await self.repo.lock_lead(conversion.lead_id)
        conversion = await self.repo.get(attempt.conversion_id, for_update=True)
        assert lead is not None and conversion is not None
        if conversion.state == "completed":
            return conversion
        now = utcnow()
        conversion.state = "completed"
        conversion.in_flight_until = None
        conversion.failure_reason = ""
        conversion.organization_id = uuid.UUID(result.organization_id) if result.organization_id else None
        conversion.contact_id = uuid.UUID(result.contact_id) if result.contact_id else None
        conversion.opportunity_id = uuid.UUID(result.opportunity_id) if result.opportunity_id else None
        conversion.organization_created = result.organization_created
        conversion.contact_created = result.contact_created
        conversion.completed_at = now
        moved = {uuid.UUID(m.lead_activity_id): uuid.UUID(m.activity_id) for m in result.moved_activities}
        await self.repo.mark_moved(conversion.id, moved)
        await StatusService(self.session, self.serious_after).change(
            lead, "converted", attempt.actor, reason=f"converted into opportunity {result.opportunity_id}"
        )
        lead.converted_at = now
        await self.leads.add_audit(
            lead.id,
            attempt.actor,
            "converted",
            {
                "conversion_id": str(conversion.id),
                "organization_id": result.organization_id,
                "contact_id": result.contact_id,
                "opportunity_id": result.opportunity_id,
                "activities_moved": len(moved),
            },
        )
        await add_event(
            self.session,
            tables,
            events.LEAD_CONVERTED,
            events.lead_converted(lead, conversion, sorted(moved), attempt.actor),
            producer="leads",
            aggregate_id=str(lead.id),
        )
        await self.session.flush()
        return conversion

    async def get(self, lead_id: uuid.UUID, who: Principal) -> ConversionOut:
        await self._visible(await self.repo.get_lead(lead_id), lead_id, who)
        conversion = await self.repo.by_lead(lead_id)
        if conversion is None:
            raise ConversionNotFound(f"lead {lead_id} has no conversion")
        return await self.out(conversion)

    async def out(self, conversion: LeadConversion) -> ConversionOut:
        moved = [m.activity_id for m in await self.repo.moved(conversion.id)]
        return events.conversion_out(conversion, moved)

    async def resumable(self, limit: int = 100) -> list[uuid.UUID]:
        return await self.repo.resumable(utcnow(), limit)


Transactions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


class ConversionCoordinator:
    """The saga around the deals call; every edge (REST, gRPC, the sweep task) goes through it."""

    def __init__(self, transactions: Transactions, settings: Any) -> None:
        self.transactions = transactions
        self.target: str = settings.deals_grpc_target
        self.token: str = settings.service_token
        self.timeout: float = settings.deals_grpc_timeout
        self.serious_after: int = settings.serious_prospect_closed_tasks
        # an attempt counts as running for its deadline plus a margin; after that the sweep may retry it
        self.flight = dt.timedelta(seconds=self.timeout + 30)

    def _stub(self) -> tuple[Any, deals_pb2_grpc.DealsServiceStub]:
        client = service_client(self.target, self.token, timeout=self.timeout, name="deals")
        return client, deals_pb2_grpc.DealsServiceStub(client.channel)

    def _service(self, session: AsyncSession) -> ConversionService:
        return ConversionService(session, self.serious_after)

    async def preview(self, lead_id: uuid.UUID, options: ConversionOptions, who: Principal) -> PreviewOut:
        async with self.transactions() as session:
            request = await self._service(session).preview_request(lead_id, options, who)
        client, stub = self._stub()
        response = await client.call(stub.PreviewLeadConversion, request)
        return events.preview_from_proto(response)

    async def convert(self, lead_id: uuid.UUID, options: ConversionOptions, who: Principal) -> ConversionOut:
        async with self.transactions() as session:
            attempt = await self._service(session).begin(lead_id, options, who, self.flight)
        return await self._run(attempt)

    async def resume(self, conversion_id: uuid.UUID) -> ConversionOut | None:
        async with self.transactions() as session:
            attempt = await self._service(session).resume(conversion_id, self.flight)
        if attempt is None:
            return None
        return await self._run(attempt)

    async def _run(self, attempt: Attempt) -> ConversionOut:
        client, stub = self._stub()
        try:
            response = await client.call(stub.ConvertLead, attempt.request)
        except UpstreamUnavailable as exc:
            async with self.transactions() as session:
                await self._service(session).fail(
                    attempt, f"deals unavailable, will retry: {exc.detail}", definitive=False
                )
            raise
        except DomainError as exc:
            async with self.transactions() as session:
                await self._service(session).fail(attempt, f"deals refused: {exc.detail}", definitive=True)
            raise
        async with self.transactions() as session:
            service = self._service(session)
            conversion = await service.complete(attempt, response.result)
            return await service.out(conversion)

    async def get(self, lead_id: uuid.UUID, who: Principal) -> ConversionOut:
        async with self.transactions() as session:
            return await self._service(session).get(lead_id, who)
