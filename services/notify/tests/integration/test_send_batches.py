"""Group commit of SendNotification: concurrent calls share transactions, yet every caller gets its own
answer (its message, its duplicate, its own error), a batch whose transaction fails is run again one call
at a time, and every queued message is sent exactly once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
from crm.notify.v1 import notify_pb2, notify_pb2_grpc
from crm_notify.messages.grpc import send_input
from crm_notify.messages.models import Message, MessageStatusChange
from crm_notify.messages.service import SendRequest
from crm_platform.auth import Principal
from crm_platform.testing.harness import eventually
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from .test_delivery import add_provider, start


def request(i: int, **fields: Any) -> notify_pb2.SendNotificationRequest:
    values: dict[str, Any] = {
        "recipient": f"batch{i}@example.com",
        "channel": notify_pb2.CHANNEL_EMAIL,
        "subject": f"batch {i}",
        "body_text": "group commit",
        "idempotency_key": f"batch-{i}",
    }
    values.update(fields)
    return notify_pb2.SendNotificationRequest(**values)


async def call(stub: Any, notify: Any, req: notify_pb2.SendNotificationRequest) -> Any:
    try:
        return await stub.SendNotification(req, metadata=notify.service_metadata())
    except grpc.aio.AioRpcError as exc:
        return exc.code()


async def test_concurrent_sends_share_transactions_and_each_caller_gets_its_own_answer(crm, smtp):
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    stub = notify_pb2_grpc.NotifyServiceStub(notify.grpc_channel)
    requests = [request(i) for i in range(30)]
    requests += [request(0)]  # the same request again: a duplicate of the first
    requests += [request(1, body_text="another body")]  # its key, another payload: refused
    requests += [request(100, idempotency_key="")]  # no key: always a new message
    requests += [request(101, template="lead_assigned", subject="", data_json=json.dumps({}))]  # invalid
    requests += [request(102, idempotency_key="batch-invalid", template="no-such-template", subject="")]
    answers = await asyncio.gather(*(call(stub, notify, r) for r in requests))

    committer = notify.runtime.group_commit("send_notification", None)
    assert committer.items >= len(requests)
    assert committer.batches < committer.items  # calls did share transactions

    again, refused, keyless, invalid, unknown = answers[30:]
    # the same key with another payload: whichever call was queued second is refused
    pair = [answers[1], refused]
    assert pair.count(grpc.StatusCode.ALREADY_EXISTS) == 1, pair
    answers[1] = next(a for a in pair if a is not grpc.StatusCode.ALREADY_EXISTS)
    firsts = answers[:30]
    assert all(isinstance(a, notify_pb2.SendNotificationResponse) for a in firsts), firsts
    assert len({a.message_id for a in firsts}) == 30
    # the same key twice in flight: one message, whichever call was queued first reports it as new
    assert again.message_id == firsts[0].message_id
    assert [again.duplicate, firsts[0].duplicate].count(True) == 1
    assert keyless.message_id and not keyless.duplicate
    assert invalid is grpc.StatusCode.INVALID_ARGUMENT
    assert unknown in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)

    async with notify.runtime.sessions() as s:
        messages = (await s.scalar(select(func.count()).select_from(Message))) or 0
        queued = await s.scalar(
            select(func.count())
            .select_from(MessageStatusChange)
            .where(MessageStatusChange.status == "queued")
        )
    assert messages == 31 and queued == 31  # 30 keys + the keyless one, each with its "queued" row

    async def all_sent() -> bool:
        return all(len(smtp.handler.to(f"batch{i}@example.com")) == 1 for i in (*range(30), 100))

    await eventually(all_sent, timeout=30)
    await asyncio.sleep(0.5)
    assert all(len(smtp.handler.to(f"batch{i}@example.com")) == 1 for i in (*range(30), 100))


async def test_a_request_that_breaks_its_batch_fails_alone(crm, smtp):
    """PostgreSQL refuses a NUL character in text: the whole batch's INSERT fails, the batch is run
    again one request at a time, and only the bad request gets an error."""
    notify = await start(crm)
    await add_provider(notify, smtp.provider())
    committer = notify.runtime.group_commit("send_notification", None)
    who = Principal(subject="billing", roles=frozenset({"admin"}), is_service=True)
    good = [request(200 + i) for i in range(12)]
    bad = request(299, body_text="nul \x00 byte")
    before = committer.batches
    # submitted in one tick: they are one batch
    outcomes = await asyncio.gather(
        *(committer.submit("send", SendRequest(send_input(r), who)) for r in [*good[:6], bad, *good[6:]]),
        return_exceptions=True,
    )
    assert committer.batches == before + 1 + 13  # the batch, then each of its requests alone
    assert isinstance(outcomes[6], DBAPIError), outcomes[6]
    oks = outcomes[:6] + outcomes[7:]
    assert all(isinstance(o, tuple) and not o[1] for o in oks), oks

    # through gRPC the database's refusal is the caller's INVALID_ARGUMENT
    stub = notify_pb2_grpc.NotifyServiceStub(notify.grpc_channel)
    assert await call(stub, notify, bad) is grpc.StatusCode.INVALID_ARGUMENT

    async def all_sent() -> bool:
        return all(len(smtp.handler.to(f"batch{200 + i}@example.com")) == 1 for i in range(12))

    await eventually(all_sent, timeout=30)
    async with notify.runtime.sessions() as s:
        count = await s.scalar(select(func.count()).select_from(Message))
    assert count == 12
