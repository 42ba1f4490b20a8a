"""NATS event handlers of the invoices domain: none yet (quote acceptance and payments arrive with the
billing issue)."""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import Subscription

subscriptions: list[Subscription[Any]] = []
