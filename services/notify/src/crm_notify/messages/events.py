"""Subjects and builders for the events notify publishes about messages."""

from __future__ import annotations

from crm.common.v1 import contact_point_pb2
from crm.notify.v1 import events_pb2

from crm_notify.messages.models import Message

MESSAGE_SENT = "crm.notify.message.sent"
MESSAGE_DELIVERED = "crm.notify.message.delivered"
MESSAGE_FAILED = "crm.notify.message.failed"
MESSAGE_SUPPRESSED = "crm.notify.message.suppressed"


def _record(m: Message) -> contact_point_pb2.RecordRef:
    return contact_point_pb2.RecordRef(service=m.record_service, record_type=m.record_type, id=m.record_id)


def sent(m: Message) -> events_pb2.MessageSent:
    return events_pb2.MessageSent(
        message_id=str(m.id),
        channel=m.channel,
        provider=m.provider or "",
        provider_message_ids=list(m.provider_message_ids),
        attempt=m.attempts,
        segments=m.segments,
        record=_record(m),
    )


def delivered(m: Message) -> events_pb2.MessageDelivered:
    return events_pb2.MessageDelivered(
        message_id=str(m.id), channel=m.channel, provider=m.provider or "", record=_record(m)
    )


def failed(m: Message, code: str) -> events_pb2.MessageFailed:
    return events_pb2.MessageFailed(
        message_id=str(m.id),
        channel=m.channel,
        provider=m.provider or "",
        code=code,
        reason=m.status_reason,
        dead_letter=m.status == "dead",
        attempts=m.attempts,
        record=_record(m),
    )


def suppressed(m: Message) -> events_pb2.MessageSuppressed:
    return events_pb2.MessageSuppressed(
        message_id=str(m.id), channel=m.channel, reason=m.status_reason, record=_record(m)
    )
