"""NATS event handlers of the automation domain (none consumed yet)."""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import Subscription

subscriptions: list[Subscription[Any]] = []
