"""gRPC edge of the activities domain.

``crm.leads.v1.LeadsService`` declares no activity RPCs: notes, tasks, events, the agenda and
speed-to-lead are served over REST only (``router.py``). Nothing is registered here, so this module
contributes no servicer; when an activity RPC is added to the proto, its servicer and a
``registration(runtime)`` go here and into ``app.py``'s ``grpc=[...]``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crm_platform.grpc import Registration
    from crm_platform.runtime import Runtime

registrations: list[Callable[[Runtime], Registration]] = []
