"""NATS event handlers of the activities domain.

Activities react to nothing from other services yet: the assignment engine calls
``ActivityService.create_first_followup`` / ``reassign_open_tasks`` in its own transaction instead of
through an event, so the first follow-up exists as soon as the assignment commits.
"""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import Subscription

subscriptions: list[Subscription[Any]] = []
