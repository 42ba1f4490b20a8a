"""Group commit: coalesce concurrent single writes into one transaction.

A service that writes one record per request pays a fixed price per transaction (statements, round
trips, unit of work, events, a commit). Under load many such requests are in flight at once; a
:class:`GroupCommit` lets them share that price without making a quiet service slower:

- *natural batching*, no timer: the first call starts a batch at once; calls that arrive while a batch
  is running wait for the next round, which takes all of them (up to ``max_batch``);
- ``run(key, items)`` handles one batch in one transaction and answers per item: a result, or an
  exception for that item alone (e.g. its validation errors) that only its caller sees;
- when a whole batch fails (the transaction rolled back), every item is run again on its own, so one
  bad request never fails the others and nothing is lost or half-written; unless the database could
  not be reached (connection refused or lost, timeout): then every caller gets that error at once;
- items with different keys (e.g. different principals) never share a batch.

A caller that is cancelled while its item is in a batch does not stop the batch: as with a request whose
client went away after the commit, the write stands.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from crm_platform import observability as obs
from crm_platform.errors import unreachable

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


@dataclass
class _Lane(Generic[T, R]):
    queue: list[tuple[T, asyncio.Future[R]]] = field(default_factory=list)
    runners: int = 0


class GroupCommit(Generic[K, T, R]):
    """Coalesces concurrent :meth:`submit` calls with the same key into calls of ``run``.

    ``run(key, items)`` must return one entry per item, in order: the item's result or an exception
    instance for that item. An exception raised by ``run`` itself means the whole batch failed.
    ``concurrency`` batches of one key may run at once (one can do CPU work while another waits for
    the database)."""

    def __init__(
        self,
        run: Callable[[K, Sequence[T]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_batch: int = 100,
        concurrency: int = 2,
        name: str = "group-commit",  # "<service>.<purpose>": the metric's labels
    ) -> None:
        if max_batch < 1 or concurrency < 1:
            raise ValueError("max_batch and concurrency must be at least 1")
        self._run = run
        self.max_batch = max_batch
        self.concurrency = concurrency
        self.name = name
        self._lanes: dict[K, _Lane[T, R]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        service, _, purpose = name.rpartition(".")
        self._sizes = obs.GROUP_COMMIT_BATCH.labels(service or "-", purpose)
        self.batches = 0  # batches run (for tests and metrics)
        self.items = 0

    async def submit(self, key: K, item: T) -> R:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[R] = loop.create_future()
        lane = self._lanes.setdefault(key, _Lane())
        lane.queue.append((item, fut))
        if lane.runners < self.concurrency:
            lane.runners += 1
            task = loop.create_task(self._drain(key, lane), name=f"{self.name}:{key!r}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # shield: the caller going away must not cancel the batch other callers share
        return await asyncio.shield(fut)

    async def _drain(self, key: K, lane: _Lane[T, R]) -> None:
        try:
            while lane.queue:
                batch, lane.queue = lane.queue[: self.max_batch], lane.queue[self.max_batch :]
                await self._run_batch(key, batch)
        finally:
            lane.runners -= 1
            if not lane.runners and not lane.queue and self._lanes.get(key) is lane:
                del self._lanes[key]

    async def _run_batch(self, key: K, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        self.batches += 1
        self.items += len(batch)
        self._sizes.observe(len(batch))
        try:
            outcomes = await self._run(key, [item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{self.name}: {len(outcomes)} results for {len(batch)} items")
        except Exception as exc:
            if len(batch) == 1 or unreachable(exc):
                for _, fut in batch:  # the database is gone: N single retries would only wait N times
                    _settle(fut, exc)
                return
            log.info("%s: a batch of %d failed (%s); running it item by item", self.name, len(batch), exc)
            for one in batch:
                await self._run_batch(key, [one])
            return
        except BaseException as exc:  # cancelled while shutting down: nobody is left without an answer
            for _, fut in batch:
                _settle(fut, exc)
            raise
        for (_, fut), outcome in zip(batch, outcomes, strict=True):
            _settle(fut, outcome)

    async def aclose(self) -> None:
        """Wait for the batches that are running (call before the database engine is disposed)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _settle(fut: asyncio.Future[R], outcome: R | BaseException) -> None:
    if fut.done():
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)
