"""Adapters built from provider rows, cached per process (and per row version) so connections are reused."""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm_notify.providers.base import Adapter
from crm_notify.providers.http import HttpFaxAdapter, HttpSmsAdapter
from crm_notify.providers.hylafax import HylafaxAdapter
from crm_notify.providers.smpp import SmppAdapter
from crm_notify.providers.smtp import SmtpAdapter

FACTORIES: dict[str, Any] = {
    "smtp": SmtpAdapter,
    "smpp": SmppAdapter,
    "http_sms": HttpSmsAdapter,
    "http_fax": HttpFaxAdapter,
    "hylafax": HylafaxAdapter,
}

_cache: dict[str, tuple[dt.datetime | None, Adapter]] = {}


async def adapter_for(name: str, kind: str, config: dict[str, Any], version: dt.datetime | None) -> Adapter:
    cached = _cache.get(name)
    if cached is not None and cached[0] == version:
        return cached[1]
    if cached is not None:
        await cached[1].close()
    adapter: Adapter = FACTORIES[kind](name, config)
    _cache[name] = (version, adapter)
    return adapter


async def close_all() -> None:
    while _cache:
        _, (_, adapter) = _cache.popitem()
        await adapter.close()
