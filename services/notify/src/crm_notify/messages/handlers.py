"""Delivery receipts that arrive outside NATS: the SMPP receipt listeners the app process runs (one
bind_receiver session per enabled SMPP provider, reloaded when the provider list changes)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from crm_notify.messages.service import MessageService
from crm_notify.providers.base import Receipt
from crm_notify.providers.repository import ProviderRepository
from crm_notify.providers.smpp import SmppReceiptListener

log = logging.getLogger(__name__)
RELOAD_SECONDS = 2.0


class ReceiptListeners:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.running: dict[str, tuple[Any, SmppReceiptListener, asyncio.Task[None]]] = {}

    async def apply(self, provider: str, receipt: Receipt) -> None:
        async with self.runtime.unit_of_work() as session:
            await MessageService(session).apply_receipt(provider, receipt)

    async def reload(self) -> None:
        async with self.runtime.sessions() as session:
            wanted = {p.name: p for p in await ProviderRepository(session).search(kind="smpp") if p.enabled}
        for name in list(self.running):
            version, _, task = self.running[name]
            if name not in wanted or wanted[name].updated_at != version:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                del self.running[name]
        for name, p in wanted.items():
            if name not in self.running:
                listener = SmppReceiptListener(name, dict(p.config), self.apply)
                task = asyncio.create_task(listener.run(), name=f"smpp-receipts-{name}")
                self.running[name] = (p.updated_at, listener, task)

    async def run(self) -> None:
        while True:
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("SMPP receipt listeners: reload failed: %s", exc)
            await asyncio.sleep(RELOAD_SECONDS)

    async def stop(self) -> None:
        for _, _, task in self.running.values():
            task.cancel()
        await asyncio.gather(*(t for _, _, t in self.running.values()), return_exceptions=True)
        self.running.clear()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = app.state.runtime
    listeners = ReceiptListeners(runtime)
    app.state.receipt_listeners = listeners
    task = None
    if getattr(runtime.settings, "smpp_receipts", False):
        task = asyncio.create_task(listeners.run(), name="notify-smpp-receipts")
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await listeners.stop()
