"""gRPC edge: crm.notify.v1.NotifyService (SendNotification is declared, not yet served)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from crm.notify.v1 import notify_pb2, notify_pb2_grpc
from crm_platform.grpc import Registration

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class NotifyServicer(notify_pb2_grpc.NotifyServiceServicer):
    async def SendNotification(
        self, request: notify_pb2.SendNotificationRequest, context: grpc.aio.ServicerContext
    ) -> notify_pb2.SendNotificationResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "SendNotification arrives with the notify issue")
        raise AssertionError("unreachable: abort raises")


def registration(runtime: Runtime) -> Registration:
    return (
        notify_pb2_grpc.add_NotifyServiceServicer_to_server,
        NotifyServicer(),
        notify_pb2.DESCRIPTOR.services_by_name["NotifyService"].full_name,
    )
