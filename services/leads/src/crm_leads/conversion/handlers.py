"""Lead conversion consumes no events: it is a command (REST/gRPC) answered by a deals gRPC command."""

from __future__ import annotations

from typing import Any

from crm_platform.inbox import Subscription

subscriptions: list[Subscription[Any]] = []
