"""NATS connection and JetStream stream set-up (idempotent, at process start)."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_SECONDS = 600.0


async def connect(url: str, name: str, *, allow_reconnect: bool = True) -> Client:
    """Connect with unlimited reconnects, so a NATS outage never kills the process."""

    async def _err(e: Exception) -> None:
        log.warning("nats error (%s): %s", name, e)

    async def _disc() -> None:
        log.warning("nats disconnected (%s)", name)

    async def _reconn() -> None:
        log.info("nats reconnected (%s)", name)

    return await nats.connect(
        url,
        name=name,
        allow_reconnect=allow_reconnect,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        error_cb=_err,
        disconnected_cb=_disc,
        reconnected_cb=_reconn,
    )


def stream_name_for(producer: str) -> str:
    return f"CRM_{producer.upper()}"


async def ensure_stream(js: JetStreamContext, producer: str) -> str:
    """Create or update the producer's stream ``CRM_<PRODUCER>`` on ``crm.<producer>.>``."""
    name = stream_name_for(producer)
    config = StreamConfig(
        name=name,
        subjects=[f"crm.{producer}.>"],
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", name)
    else:
        await js.update_stream(config)
    return name
