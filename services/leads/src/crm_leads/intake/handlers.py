"""NATS event handlers of the intake domain: intake consumes no other service's facts."""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import Subscription

subscriptions: list[Subscription[Any]] = []
