"""NATS event handlers of the leads domain (it consumes no other service's facts yet)."""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import Subscription

subscriptions: list[Subscription[Any]] = []
