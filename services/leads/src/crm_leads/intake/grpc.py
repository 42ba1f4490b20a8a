"""gRPC edge of intake: none of its own.

``crm.leads.v1.LeadsService`` already has ``CreateLead``/``BatchCreateLeads`` (served by the leads
domain); lead sources, the public form endpoint and CSV imports are REST only (a browser or an admin UI
calls them, not another service).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime

registrations: list[Callable[[Runtime], Any]] = []
