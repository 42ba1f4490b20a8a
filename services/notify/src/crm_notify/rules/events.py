"""Events rules can react to, and how an event becomes the data a rule sees."""

from __future__ import annotations

from typing import Any

from crm.leads.v1 import events_pb2 as leads_events
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

LEAD_CREATED = "crm.leads.lead.created"
LEAD_ASSIGNED = "crm.leads.lead.assigned"
LEAD_STATUS_CHANGED = "crm.leads.lead.status_changed"

RULE_EVENTS: dict[str, type[Message]] = {
    LEAD_CREATED: leads_events.LeadCreated,
    LEAD_ASSIGNED: leads_events.LeadAssigned,
    LEAD_STATUS_CHANGED: leads_events.LeadStatusChanged,
}
ENUM_PREFIXES = ("LEAD_STATUS_",)


def _short_enums(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _short_enums(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short_enums(v) for v in value]
    if isinstance(value, str):
        for prefix in ENUM_PREFIXES:
            if value.startswith(prefix):
                return value.removeprefix(prefix).lower()
    return value


def event_data(event: Message) -> dict[str, Any]:
    """The event as a dict with proto field names, enums as short lower-case names, no metadata."""
    data = MessageToDict(event, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    data.pop("metadata", None)
    return _short_enums(data)  # type: ignore[no-any-return]


def lookup(data: dict[str, Any], path: str) -> tuple[bool, Any]:
    current: Any = data
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return False, None
        current = current[part]
    return True, current
