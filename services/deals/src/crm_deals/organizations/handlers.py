"""NATS event handlers of the organizations domain (it consumes no other service's facts yet; lead
conversion arrives as a gRPC command from leads, not as an event)."""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import Subscription

subscriptions: list[Subscription[Any]] = []
