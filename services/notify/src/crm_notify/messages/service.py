"""Messages: the send API (idempotent), rules turning events into messages, the send-time checks and
the state machine of a delivery, receipts, history. Flushes, never commits; tasks and edges commit.

queued -> (deferred: quiet hours) -> sending -> sent -> delivered
                                          |-> retrying -> sending ... -> dead (after max_attempts)
                                          |-> failed (permanent error, or an undeliverable receipt)
queued/deferred/retrying -> suppressed (consent, opt-out, do-not-contact), always with its reason
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from crm_platform.auth import Principal
from crm_platform.db import utcnow
from crm_platform.errors import DomainError, ValidationFailed
from crm_platform.ids import new_id
from crm_platform.outbox import add_event, add_events
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from crm_notify.addresses import guess_channel, normalise
from crm_notify.consent.service import ConsentService, Decision, unsubscribe_token
from crm_notify.db import tables
from crm_notify.directory.exceptions import LeadNotProjectedYet
from crm_notify.directory.service import DirectoryService, Recipient
from crm_notify.messages import events, wakeup
from crm_notify.messages.exceptions import IdempotencyKeyReused, InvalidWebhookToken, MessageNotFound
from crm_notify.messages.models import (
    DeliveryAttempt,
    DeliveryReceipt,
    Message,
    MessageStatusChange,
)
from crm_notify.messages.repository import MessageRepository
from crm_notify.messages.schemas import RecordRefIn, SendIn
from crm_notify.providers.base import Receipt
from crm_notify.providers.repository import ProviderRepository
from crm_notify.rules.models import Rule
from crm_notify.rules.service import RuleService
from crm_notify.templates.service import Content, TemplateService, build_content
from crm_notify.worker import settings

DELIVER_TASK = "notify.deliver_message"  # kept for tasks enqueued before the batch dispatcher
READER_ROLES = ("admin", "manager")


def backoff_seconds(attempt: int, base: float, cap: float, jitter: float = 0.2) -> float:
    """Exponential backoff for attempt ``attempt`` (1-based) with +-``jitter`` spread."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * (1 + random.uniform(-jitter, jitter))


def request_hash(data: SendIn) -> str:
    payload = data.model_dump(exclude={"idempotency_key"}, mode="json")
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class SendRequest:
    """One message to queue (see :meth:`MessageService.send`): who asks, and for a rule its context."""

    data: SendIn
    who: Principal
    key_scope: str | None = None  # the idempotency key's scope; the principal's subject by default
    rule: Rule | None = None
    source_event_id: str | None = None
    not_before: dt.datetime | None = None
    wait_for_lead: bool = False

    @property
    def key(self) -> str | None:
        if not self.data.idempotency_key:
            return None
        scope = self.key_scope if self.key_scope is not None else self.who.subject
        return f"{scope}:{self.data.idempotency_key}"


@dataclass
class ProviderRef:
    name: str
    kind: str
    config: dict[str, Any]
    version: dt.datetime | None
    rate_per_second: float | None


@dataclass
class Claim:
    """What a delivery attempt needs, read in the claiming transaction."""

    message_id: uuid.UUID
    channel: str
    recipient: str
    subject: str
    text: str
    html: str | None
    attachments: list[dict[str, Any]]
    headers: dict[str, str]
    segments: int
    attempt: int
    providers: list[ProviderRef] = field(default_factory=list)


@dataclass
class AttemptResult:
    provider: str
    outcome: str  # accepted | transient | permanent
    code: str = ""
    detail: str = ""
    started_at: dt.datetime = field(default_factory=utcnow)
    finished_at: dt.datetime = field(default_factory=utcnow)


@dataclass
class Outcome:
    kind: str  # sent | permanent | transient | rate_limited
    attempts: list[AttemptResult] = field(default_factory=list)
    provider: str = ""
    provider_message_ids: tuple[str, ...] = ()
    segments: int = 1
    wait: float = 0.0


# deliveries of an event a rule addressed to the lead waits for the lead's data (see from_event)
LEAD_WAIT_DELIVERIES = 3


class MessageService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = MessageRepository(session)

    # --- send ---------------------------------------------------------------------------------------
    async def _recipient(self, data: SendIn, wait_for_lead: bool = False) -> Recipient:
        if data.record is not None:
            r = data.record
            return await DirectoryService(self.session).resolve(
                r.service, r.record_type, r.id, data.channel, wait_for_lead=wait_for_lead
            )
        assert data.recipient is not None
        channel = guess_channel(data.recipient) if data.channel == "preferred" else data.channel
        address = normalise(channel, data.recipient, settings.default_phone_region)
        return Recipient(channel, address, data.locale or settings.default_locale, "UTC")

    async def _content(self, data: SendIn, to: Recipient) -> tuple[Content, dict[str, str]]:
        locale = data.locale or to.locale or settings.default_locale
        headers: dict[str, str] = {}
        unsubscribe = None
        if data.purpose == "marketing" and to.channel == "email":
            token = unsubscribe_token(settings.link_secret, to.channel, to.address, data.purpose)
            unsubscribe = f"{settings.public_base_url.rstrip('/')}/api/v1/public/unsubscribe?token={token}"
            headers["List-Unsubscribe"] = f"<{unsubscribe}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        variables = {**to.data, "recipient": {"name": to.name, "address": to.address}, **data.data}
        if data.purpose == "marketing" and unsubscribe:
            variables.setdefault("unsubscribe_url", unsubscribe)
        if data.template:
            t = await TemplateService(self.session).resolve(
                data.template, to.channel, locale, settings.default_locale
            )
            content = build_content(
                to.channel, t.locale, t.subject, t.body_text, t.body_html, variables, to.timezone, unsubscribe
            )
        else:
            if to.channel == "email" and not data.subject:
                raise ValidationFailed({"subject": "an e-mail needs a subject"})
            content = build_content(
                to.channel,
                locale,
                data.subject or "",
                data.body_text or "",
                data.body_html,
                variables,
                to.timezone,
                unsubscribe,
                templated=False,
            )
        if to.channel == "fax" and not (content.text.strip() or data.attachments):
            raise ValidationFailed({"attachments": "a fax needs a document or text"})
        return content, headers

    async def send(
        self,
        data: SendIn,
        who: Principal,
        *,
        key_scope: str | None = None,
        rule: Rule | None = None,
        source_event_id: str | None = None,
        not_before: dt.datetime | None = None,
        wait_for_lead: bool = False,
    ) -> tuple[Message, bool]:
        """Queue one message; (message, duplicate). A known idempotency key returns the first message."""
        request = SendRequest(data, who, key_scope, rule, source_event_id, not_before, wait_for_lead)
        (outcome,) = await self.send_many([request])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def send_many(self, requests: Sequence[SendRequest]) -> list[tuple[Message, bool] | Exception]:
        """Queue many messages in the caller's transaction, with one INSERT for the messages and one for
        their status rows; per request (message, duplicate), or the exception of that request alone (its
        validation error, a reused idempotency key). Such a request wrote nothing. An exception raised
        from here (a failed statement) means the transaction is lost: run the requests one by one.

        A known key is found by the insert (ON CONFLICT DO NOTHING), which saves the common, new request
        a lookup; a repeat whose recipient or template no longer resolves still gets its first message,
        not the error. Two requests of one batch with the same key behave as if sent one after the
        other: the first is queued, the second is its duplicate."""
        now = utcnow()
        digests = [request_hash(r.data) for r in requests]
        errors: dict[int, Exception] = {}
        rows: dict[int, dict[str, Any]] = {}
        for i, r in enumerate(requests):
            try:
                to = await self._recipient(r.data, r.wait_for_lead)
                content, headers = await self._content(r.data, to)
            except (DomainError, LeadNotProjectedYet) as exc:
                errors[i] = exc
                continue
            rows[i] = self._row(r, digests[i], to, content, headers, now)
        inserted = await self.repo.insert_many_once(list(rows.values()))
        lookups = {
            r.key
            for i, r in enumerate(requests)
            if r.key is not None and (i in errors or rows[i]["id"] not in inserted)
        }
        existing = await self.repo.by_keys(lookups) if lookups else {}
        out: list[tuple[Message, bool] | Exception] = []
        statuses: list[dict[str, Any]] = []
        due: set[dt.datetime | None] = set()
        for i, r in enumerate(requests):
            row = rows.get(i)
            if row is not None and row["id"] in inserted:
                message = self.repo.detached(row)
                detail = f"rule {r.rule.name}" if r.rule else f"requested by {r.who.subject}"
                statuses.append(_status(message.id, "queued", detail, now))
                due.add(None if message.not_before <= now else message.not_before)
                out.append((message, False))
                continue
            # a known key (a request with the same key won the insert), or this request's own error
            first = existing.get(r.key) if r.key is not None else None
            if first is None:
                out.append(errors.get(i) or RuntimeError(f"message with key {r.key} vanished"))
            elif r.rule is not None:  # a rule's key is (rule, event): the event is the identity
                out.append((first, True))
            else:
                try:
                    out.append((self._same_request(first, digests[i]), True))
                except IdempotencyKeyReused as exc:
                    out.append(exc)
        await self.repo.add_statuses(statuses)
        for when in due:
            wakeup.after_commit(self.session, when)
        return out

    @staticmethod
    def _row(
        r: SendRequest,
        digest: str,
        to: Recipient,
        content: Content,
        headers: dict[str, str],
        now: dt.datetime,
    ) -> dict[str, Any]:
        return {
            "id": new_id(),
            "idempotency_key": r.key,
            "request_hash": digest,
            "channel": to.channel,
            "purpose": r.data.purpose,
            "recipient": to.address,
            "record_service": to.record[0],
            "record_type": to.record[1],
            "record_id": to.record[2],
            "locale": content.locale,
            "template_key": r.data.template,
            "subject": content.subject,
            "body_text": content.text,
            "body_html": content.html,
            "attachments": [a.model_dump() for a in r.data.attachments]
            + ([{"headers": headers}] if headers else []),
            "status": "queued",
            "status_reason": "",
            "segments": content.segments,
            "not_before": r.not_before or now,
            "rule_id": r.rule.id if r.rule else None,
            "source_event_id": r.source_event_id,
            "created_by": r.who.subject,
            "created_at": now,
            "updated_at": now,
        }

    @staticmethod
    def _same_request(existing: Message, digest: str) -> Message:
        if existing.request_hash and existing.request_hash != digest:
            raise IdempotencyKeyReused("this idempotency key was used for a different request")
        return existing

    async def _record_rejected(self, rule: Rule, event_id: str, data: SendIn, reason: str) -> Message:
        """A rule that cannot produce a message still leaves a trace: a suppressed message with the reason."""
        now = utcnow()
        message = await self.repo.insert_once(
            {
                "id": new_id(),
                "idempotency_key": f"rule:{rule.id}:{event_id}",
                "request_hash": request_hash(data),
                "channel": rule.channel if rule.channel != "preferred" else "email",
                "purpose": rule.purpose,
                "recipient": data.recipient
                or (
                    f"{data.record.service}/{data.record.record_type}/{data.record.id}" if data.record else ""
                ),
                "record_service": data.record.service if data.record else "",
                "record_type": data.record.record_type if data.record else "",
                "record_id": data.record.id if data.record else "",
                "locale": rule.locale or settings.default_locale,
                "template_key": rule.template_key,
                "status": "suppressed",
                "status_reason": reason[:1000],
                "rule_id": rule.id,
                "source_event_id": event_id,
                "created_by": "rule",
                "created_at": now,
                "updated_at": now,
                "not_before": now,
            }
        )
        if message is not None:
            await self.repo.add_status(message.id, "suppressed", reason, at=now)
            await add_event(
                self.session,
                tables,
                events.MESSAGE_SUPPRESSED,
                events.suppressed(message),
                producer="notify",
                aggregate_id=str(message.id),
            )
        return message  # type: ignore[return-value]

    async def from_event(
        self, subject: str, data: dict[str, Any], event_id: str, deliveries: int = LEAD_WAIT_DELIVERIES
    ) -> list[Message]:
        """Apply every enabled rule of ``subject`` whose conditions hold; one message per (rule, event).

        A message to the lead itself is rendered with what notify knows of the lead; leads publishes a
        lead's created, assigned and status-changed events together and notify's directory may not
        have applied the first yet. Until the ``LEAD_WAIT_DELIVERIES``-th delivery of the event such a
        rule raises :class:`LeadNotProjectedYet` (the consumer redelivers after 1 s, then 5 s); after that
        the message goes out with what is known (never dropped)."""
        service = Principal(subject="rule", roles=frozenset({"admin"}), is_service=True)
        out: list[Message] = []
        rules = await RuleService(self.session).matching(subject, data)
        if rules and data.get("lead_id") and "lead" not in data:
            summary = await DirectoryService(self.session).lead_summary(str(data["lead_id"]))
            to_lead = any(rule.recipient == "lead" for rule in rules)
            if to_lead and not summary["known"] and deliveries < LEAD_WAIT_DELIVERIES:
                raise LeadNotProjectedYet(f"lead {data['lead_id']} not in the directory yet ({subject})")
            data = {**data, "lead": summary}
        for rule in rules:
            request = self._rule_request(rule, data, event_id)
            if request is None:
                continue
            not_before = utcnow() + dt.timedelta(seconds=rule.delay_seconds) if rule.delay_seconds else None
            reason = ""
            async with self.session.begin_nested():
                try:
                    message, _ = await self.send(
                        request,
                        service,
                        key_scope="rule",
                        rule=rule,
                        source_event_id=event_id,
                        not_before=not_before,
                        wait_for_lead=True,
                    )
                except DomainError as exc:
                    message = None
                    reason = f"rule {rule.name}: {exc.detail}"
            if message is None:
                message = await self._record_rejected(rule, event_id, request, reason)
            out.append(message)
        return out

    def _rule_request(self, rule: Rule, data: dict[str, Any], event_id: str) -> SendIn | None:
        recipient: str | None = None
        record: RecordRefIn | None = None
        r = rule.recipient
        if r in ("owner", "previous_owner"):
            user_id = data.get(f"{r}_id") or (data.get("lead") or {}).get("owner_id")
            if r == "previous_owner":
                user_id = data.get("previous_owner_id")
            if not user_id:
                return None  # unassigned: nobody to tell
            record = RecordRefIn(service="notify", record_type="user", id=str(user_id))
        elif r == "lead":
            lead_id = data.get("lead_id") or (data.get("lead") or {}).get("id")
            if not lead_id:
                return None
            record = RecordRefIn(service="leads", record_type="lead", id=str(lead_id))
        elif r.startswith("user:"):
            record = RecordRefIn(service="notify", record_type="user", id=r[5:])
        else:
            recipient = r
        return SendIn(
            recipient=recipient,
            record=record,
            channel=rule.channel,  # type: ignore[arg-type]
            purpose=rule.purpose,  # type: ignore[arg-type]
            template=rule.template_key,
            locale=rule.locale,  # type: ignore[arg-type]
            data={"event": data, **data},
            idempotency_key=f"{rule.id}:{event_id}",
        )

    # --- reads --------------------------------------------------------------------------------------
    async def get(self, message_id: uuid.UUID, who: Principal) -> Message:
        message = await self.repo.get(message_id)
        if message is None or not (who.is_admin or who.is_manager or message.created_by == who.subject):
            raise MessageNotFound(f"message {message_id} does not exist")
        return message

    async def search(
        self, who: Principal, status: str | None, recipient: str | None, limit: int
    ) -> list[Message]:
        created_by = None if (who.is_admin or who.is_manager) else who.subject
        return await self.repo.search(status=status, recipient=recipient, created_by=created_by, limit=limit)

    async def history(
        self, message_id: uuid.UUID, who: Principal
    ) -> tuple[Message, list[MessageStatusChange], list[DeliveryAttempt], list[DeliveryReceipt]]:
        message = await self.get(message_id, who)
        statuses, attempts = await self.repo.history(message_id)
        return message, statuses, attempts, await self.repo.receipts_for(message_id)

    async def retry(self, message_id: uuid.UUID, who: Principal) -> Message:
        """Send a dead-lettered or failed message again (an operator's decision after fixing the cause)."""
        who.require("admin")
        message = await self.repo.lock(message_id, skip_locked=False)
        if message is None:
            raise MessageNotFound(f"message {message_id} does not exist")
        if message.status not in ("dead", "failed"):
            raise ValidationFailed(
                {"status": f"only dead or failed messages can be retried, not {message.status}"}
            )
        now = utcnow()
        message.status, message.status_reason, message.attempts = "queued", "", 0
        message.not_before, message.updated_at = now, now
        await self.repo.add_status(message.id, "queued", f"retried by {who.subject}", at=now)
        wakeup.after_commit(self.session)
        return message

    async def request_opt_in(
        self, channel: str, address: str, locale: str, source: str, who: Principal
    ) -> tuple[str, Message]:
        """Double opt-in, step one: a pending marketing consent and a confirmation message with the link."""
        who.require("admin", "manager", "rep")
        address = normalise(channel, address, settings.default_phone_region, "address")
        consent, token = await ConsentService(self.session).request_marketing_opt_in(
            channel, address, source or who.subject
        )
        link = f"{settings.public_base_url.rstrip('/')}/api/v1/public/consents/confirm?token={token}"
        message, _ = await self.send(
            SendIn(
                recipient=address,
                channel=channel,
                purpose="transactional",  # type: ignore[arg-type]
                template="consent_confirm",
                locale=locale,
                data={"confirm_url": link},
            ),  # type: ignore[arg-type]
            who,
        )
        return consent.status, message

    # --- receipts -----------------------------------------------------------------------------------
    async def apply_receipt(self, provider: str, receipt: Receipt) -> str:
        """Store a receipt once and move its message on: applied, duplicate, pending or unmatched."""
        if receipt.status == "pending":
            return "pending"
        fresh = await self.repo.add_receipt(
            {
                "provider": provider,
                "provider_message_id": receipt.provider_message_id,
                "status": receipt.status,
                "code": receipt.code[:40],
                "raw": receipt.raw[:4000],
                "received_at": utcnow(),
            }
        )
        if not fresh:
            return "duplicate"
        message = await self.repo.lock_by_provider_id(provider, receipt.provider_message_id)
        if message is None:
            return "unmatched"  # the submit is not recorded yet; applied when it is (see record_outcome)
        await self._apply_receipts(message)
        return "applied"

    async def webhook_receipt(self, provider_name: str, token: str | None, receipt: Receipt) -> str:
        provider = await ProviderRepository(self.session).by_name(provider_name)
        expected = str(provider.config.get("webhook_token", "")) if provider else ""
        if provider is None or not expected or not token or not hmac.compare_digest(expected, token):
            raise InvalidWebhookToken("unknown provider or wrong webhook token")
        return await self.apply_receipt(provider_name, receipt)

    async def _apply_receipts(self, message: Message) -> None:
        if message.status != "sent" or not message.provider:
            return
        ids = list(message.provider_message_ids)
        receipts = await self.repo.receipts(message.provider, ids)
        if not receipts:
            return
        await self.repo.link_receipts(message.provider, ids, message.id)
        now = utcnow()
        bad = next((r for r in receipts if r.status == "undeliverable"), None)
        if bad is not None:
            message.status, message.status_reason, message.updated_at = (
                "failed",
                f"undeliverable: {bad.code}".strip(),
                now,
            )
            await self.repo.add_status(
                message.id, "failed", message.status_reason, message.provider, bad.code, at=now
            )
            await add_event(
                self.session,
                tables,
                events.MESSAGE_FAILED,
                events.failed(message, bad.code),
                producer="notify",
                aggregate_id=str(message.id),
            )
            return
        delivered = {r.provider_message_id for r in receipts if r.status == "delivered"}
        if delivered >= set(ids):
            message.status, message.delivered_at, message.updated_at = "delivered", now, now
            await self.repo.add_status(
                message.id, "delivered", f"{len(ids)} receipt(s)", message.provider, at=now
            )
            await add_event(
                self.session,
                tables,
                events.MESSAGE_DELIVERED,
                events.delivered(message),
                producer="notify",
                aggregate_id=str(message.id),
            )


@dataclass
class ClaimedBatch:
    """What one claim transaction did: the claims to send now, and the messages it settled otherwise."""

    claims: list[Claim] = field(default_factory=list)
    settled: dict[str, int] = field(default_factory=dict)  # suppressed / deferred -> count
    later: list[dt.datetime] = field(default_factory=list)  # due times of deferred messages
    locked: int = 0  # rows claimed (a full batch means more may be due)


class DispatchService:
    """The transactional halves of a dispatch round: claim a batch of due messages (send-time checks
    included), record the outcomes of their provider calls (which happen between the two)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = MessageRepository(session)

    async def claim_batch(self, now: dt.datetime, limit: int) -> ClaimedBatch:
        """Lock up to ``limit`` due messages (SKIP LOCKED), run the consent / opt-out / quiet-hours checks
        for all of them at once, settle the suppressed and deferred ones and mark the rest sending."""
        batch = ClaimedBatch()
        messages = await self.repo.claim_due(now, limit)
        batch.locked = len(messages)
        if not messages:
            return batch
        flags: dict[str, dict[str, bool]] = {}
        for m in messages:
            if _is_lead(m) and m.record_id not in flags:
                flags[m.record_id] = await DirectoryService(self.session).lead_flags(m.record_id)
        checks = [(m.channel, m.recipient, m.purpose, flags.get(m.record_id) if _is_lead(m) else None)
                  for m in messages]  # fmt: skip
        decisions = await ConsentService(self.session).decide_many(checks, now)
        providers: dict[str, list[ProviderRef]] = {}
        statuses: list[dict[str, Any]] = []
        outbox: list[tuple[str, Any, str]] = []
        for message, decision in zip(messages, decisions, strict=True):
            if decision.action != "send":
                self._settle(message, decision, now, statuses, outbox)
                batch.settled[message.status] = batch.settled.get(message.status, 0) + 1
                if message.status == "deferred":
                    batch.later.append(message.not_before)
                continue
            if message.channel not in providers:
                providers[message.channel] = [
                    ProviderRef(p.name, p.kind, dict(p.config), p.updated_at, p.rate_per_second)
                    for p in await ProviderRepository(self.session).for_channel(message.channel)
                ]
            # in memory as stored by mark_sending below (one statement for the batch, no ORM flush)
            set_committed_value(message, "status", "sending")
            set_committed_value(message, "attempts", message.attempts + 1)
            set_committed_value(message, "updated_at", now)
            batch.claims.append(_claim(message, providers[message.channel]))
        await self.repo.mark_sending([c.message_id for c in batch.claims], now)
        await self.repo.add_statuses(statuses)
        await add_events(self.session, tables, outbox, producer="notify")
        return batch

    @staticmethod
    def _settle(
        message: Message,
        decision: Decision,
        now: dt.datetime,
        statuses: list[dict[str, Any]],
        outbox: list[tuple[str, Any, str]],
    ) -> None:
        if decision.action == "suppress":
            message.status, message.status_reason, message.updated_at = "suppressed", decision.reason, now
            statuses.append(_status(message.id, "suppressed", decision.reason, now))
            outbox.append((events.MESSAGE_SUPPRESSED, events.suppressed(message), str(message.id)))
        else:  # defer: quiet hours
            message.status, message.status_reason = "deferred", decision.reason
            message.not_before, message.updated_at = decision.until or now, now
            statuses.append(_status(message.id, "deferred", decision.reason, now))

    async def record_batch(
        self, results: list[tuple[Claim, Outcome]], now: dt.datetime
    ) -> list[tuple[str, dt.datetime | None]]:
        """Store the attempts and new statuses of a batch in one go; (status, when to try again) each."""
        if not results:
            return []
        by_id = {m.id: m for m in await self.repo.lock_many([c.message_id for c, _ in results])}
        attempts: list[dict[str, Any]] = []
        statuses: list[dict[str, Any]] = []
        outbox: list[tuple[str, Any, str]] = []
        out: list[tuple[str, dt.datetime | None]] = []
        sent: list[Message] = []
        for claim, outcome in results:
            message = by_id[claim.message_id]
            attempts.extend(
                {
                    "message_id": message.id,
                    "number": claim.attempt,
                    "provider": a.provider,
                    "outcome": a.outcome,
                    "code": a.code[:40],
                    "detail": a.detail[:4000],
                    "started_at": a.started_at,
                    "finished_at": a.finished_at,
                }
                for a in outcome.attempts
            )
            if outcome.kind == "sent":
                out.append(self._sent(message, outcome, now, statuses, outbox))
                sent.append(message)
            else:
                out.append(self._apply(message, outcome, now, statuses, outbox))
        await self.repo.mark_sent(
            [(m.id, m.provider or "", m.provider_message_ids, m.segments) for m in sent], now
        )
        await self.repo.add_attempts(attempts)
        await self.repo.add_statuses(statuses)
        await add_events(self.session, tables, outbox, producer="notify")
        if sent:  # receipts that raced the submit (SMPP DLRs can beat our record)
            keys = [(m.provider or "", i) for m in sent for i in m.provider_message_ids]
            receipted = await self.repo.receipted(keys)
            if receipted:
                await self.session.flush()
                service = MessageService(self.session)
                for m in sent:
                    if any((m.provider, i) in receipted for i in m.provider_message_ids):
                        await service._apply_receipts(m)
        return out

    @staticmethod
    def _sent(
        message: Message,
        outcome: Outcome,
        now: dt.datetime,
        statuses: list[dict[str, Any]],
        outbox: list[tuple[str, Any, str]],
    ) -> tuple[str, dt.datetime | None]:
        """An accepted attempt: the message as :meth:`MessageRepository.mark_sent` stores it (one
        statement for the batch, not an ORM flush per message), its status row and event."""
        last = outcome.attempts[-1] if outcome.attempts else None
        for key, value in (
            ("status", "sent"),
            ("status_reason", ""),
            ("provider", outcome.provider),
            ("provider_message_ids", list(outcome.provider_message_ids)),
            ("segments", outcome.segments),
            ("sent_at", now),
            ("updated_at", now),
        ):
            set_committed_value(message, key, value)
        statuses.append(_status(message.id, "sent", last.detail if last else "", now, outcome.provider))
        outbox.append((events.MESSAGE_SENT, events.sent(message), str(message.id)))
        return "sent", None

    @staticmethod
    def _apply(
        message: Message,
        outcome: Outcome,
        now: dt.datetime,
        statuses: list[dict[str, Any]],
        outbox: list[tuple[str, Any, str]],
    ) -> tuple[str, dt.datetime | None]:
        """The state machine of one attempt's outcome that was not accepted (rate limited / failed / dead /
        retrying; accepted ones: :meth:`_sent`)."""
        last = outcome.attempts[-1] if outcome.attempts else None
        message.updated_at = now
        if outcome.kind == "rate_limited":
            message.status, message.attempts = "queued", message.attempts - 1
            message.not_before = now + dt.timedelta(seconds=outcome.wait)
            message.status_reason = "provider rate limit"
            return "queued", message.not_before
        code = last.code if last else ""
        reason = "; ".join(f"{a.provider}: {a.detail}" for a in outcome.attempts) or "no provider configured"
        message.provider = last.provider if last else None
        if outcome.kind == "permanent":
            message.status, message.status_reason = "failed", reason[:1000]
            statuses.append(_status(message.id, "failed", reason, now, message.provider, code))
            outbox.append((events.MESSAGE_FAILED, events.failed(message, code), str(message.id)))
            return "failed", None
        if message.attempts >= settings.max_attempts:
            message.status = "dead"
            message.status_reason = f"gave up after {message.attempts} attempts: {reason}"[:1000]
            statuses.append(_status(message.id, "dead", message.status_reason, now, message.provider, code))
            outbox.append((events.MESSAGE_FAILED, events.failed(message, code), str(message.id)))
            return "dead", None
        delay = backoff_seconds(message.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
        message.status, message.status_reason = "retrying", reason[:1000]
        message.not_before = now + dt.timedelta(seconds=delay)
        detail = f"attempt {message.attempts}: {reason}; next in {delay:.1f}s"
        statuses.append(_status(message.id, "retrying", detail, now, message.provider, code))
        return "retrying", message.not_before

    async def release_stale(self, now: dt.datetime, lease: dt.timedelta) -> list[uuid.UUID]:
        """Messages a dead worker left in "sending" go back to "retrying" (due at once)."""
        released = await self.repo.release_stale_sending(now - lease, now)
        await self.repo.add_statuses(
            [_status(message_id, "retrying", "worker lost while sending", now) for message_id in released]
        )
        return released

    async def has_due(self, now: dt.datetime) -> bool:
        return await self.repo.has_due(now)

    async def awaiting_receipts(self, providers: list[str], since: dt.datetime, limit: int) -> list[Message]:
        return await self.repo.awaiting_receipts(providers, since, limit)


def _is_lead(m: Message) -> bool:
    return m.record_service == "leads" and m.record_type == "lead"


def _status(
    message_id: uuid.UUID,
    status: str,
    detail: str,
    at: dt.datetime,
    provider: str | None = None,
    code: str = "",
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "status": status,
        "detail": detail,
        "provider": provider,
        "code": code,
        "at": at,
    }


def _claim(message: Message, providers: list[ProviderRef]) -> Claim:
    headers: dict[str, str] = {}
    attachments = []
    for a in message.attachments or []:
        if "headers" in a:
            headers.update(a["headers"])
        else:
            attachments.append(a)
    return Claim(
        message.id,
        message.channel,
        message.recipient,
        message.subject,
        message.body_text,
        message.body_html,
        attachments,
        headers,
        message.segments,
        message.attempts,
        providers,
    )
