"""gRPC edge: crm.telephony.v1.TelephonyService (thin: proto <-> service)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from crm.common.v1 import contact_point_pb2
from crm.telephony.v1 import telephony_pb2, telephony_pb2_grpc
from crm_platform.grpc import Registration

from crm_telephony.phonebook.service import PhoneIndexService

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime


class TelephonyServicer(telephony_pb2_grpc.TelephonyServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.region: str = getattr(runtime.settings, "default_phone_region", "IR")

    async def LookupPhone(
        self, request: telephony_pb2.LookupPhoneRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.LookupPhoneResponse:
        async with self.runtime.unit_of_work() as session:
            found = await PhoneIndexService(session, self.region).lookup(
                request.phone, request.default_region or None
            )
        return telephony_pb2.LookupPhoneResponse(
            e164=found.e164,
            records=[
                contact_point_pb2.RecordRef(
                    service=e.record_service, record_type=e.record_type, id=e.record_id
                )
                for e in found.entries
            ],
        )

    async def ClickToCall(
        self, request: telephony_pb2.ClickToCallRequest, context: grpc.aio.ServicerContext
    ) -> telephony_pb2.ClickToCallResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "ClickToCall arrives with the telephony issue")
        raise AssertionError("unreachable: abort raises")


def registration(runtime: Runtime) -> Registration:
    return (
        telephony_pb2_grpc.add_TelephonyServiceServicer_to_server,
        TelephonyServicer(runtime),
        telephony_pb2.DESCRIPTOR.services_by_name["TelephonyService"].full_name,
    )
