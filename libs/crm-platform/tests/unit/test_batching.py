"""GroupCommit: concurrent submits share batches, per-item errors stay with their caller, a failed
batch is retried item by item, keys never mix."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from crm_platform.batching import GroupCommit


class Store:
    """A stand-in for one transaction per batch: records the batches and can fail a whole batch."""

    def __init__(self, *, fail_batches_with: str | None = None) -> None:
        self.batches: list[tuple[str, list[str]]] = []
        self.committed: list[str] = []
        self.fail_batches_with = fail_batches_with

    async def run(self, key: str, items: Sequence[str]) -> list[str | BaseException]:
        self.batches.append((key, list(items)))
        await asyncio.sleep(0.01)  # the transaction's round trips: later submits queue meanwhile
        if self.fail_batches_with and len(items) > 1 and self.fail_batches_with in items:
            raise RuntimeError("the whole transaction rolled back")
        if self.fail_batches_with and items == [self.fail_batches_with]:
            raise RuntimeError(f"{self.fail_batches_with} breaks the transaction")
        out: list[str | BaseException] = []
        for item in items:
            if item.startswith("invalid"):
                out.append(ValueError(f"{item} is invalid"))
            else:
                self.committed.append(item)
                out.append(f"{key}:{item}")
        return out


async def test_a_lone_submit_runs_at_once_and_concurrent_ones_share_batches() -> None:
    store = Store()
    gc = GroupCommit(store.run, max_batch=100)
    assert await gc.submit("k", "first") == "k:first"
    assert store.batches == [("k", ["first"])]

    results = await asyncio.gather(*(gc.submit("k", f"item{i}") for i in range(50)))
    assert results == [f"k:item{i}" for i in range(50)]
    # the burst arrives before the runner's first step: one transaction for all 50
    assert [len(items) for _, items in store.batches[1:]] == [50]

    running = asyncio.create_task(gc.submit("k", "alone"))
    await asyncio.sleep(0.001)  # its batch is in its transaction now; the next ones queue behind it
    late = await asyncio.gather(*(gc.submit("k", f"late{i}") for i in range(5)))
    assert await running == "k:alone" and late == [f"k:late{i}" for i in range(5)]
    assert [len(items) for _, items in store.batches[2:]] == [1, 5]
    assert len(store.committed) == 57 and len(set(store.committed)) == 57  # each once


async def test_max_batch_splits_a_burst() -> None:
    store = Store()
    gc = GroupCommit(store.run, max_batch=10)
    await asyncio.gather(*(gc.submit("k", f"i{i}") for i in range(35)))
    assert [len(items) for _, items in store.batches] == [10, 10, 10, 5]


async def test_an_invalid_item_fails_only_its_own_caller() -> None:
    store = Store()
    gc = GroupCommit(store.run)
    results = await asyncio.gather(
        *(gc.submit("k", name) for name in ["a", "invalid-b", "c", "d"]), return_exceptions=True
    )
    assert results[0] == "k:a" and results[2] == "k:c" and results[3] == "k:d"
    assert isinstance(results[1], ValueError) and "invalid-b" in str(results[1])
    assert sorted(store.committed) == ["a", "c", "d"]


async def test_a_failed_batch_is_retried_item_by_item_so_others_are_not_lost() -> None:
    store = Store(fail_batches_with="poison")
    gc = GroupCommit(store.run)
    names = ["a", "b", "poison", "c", "d"]
    results = await asyncio.gather(*(gc.submit("k", n) for n in names), return_exceptions=True)
    assert [r for r in results if isinstance(r, str)] == ["k:a", "k:b", "k:c", "k:d"]
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and "poison breaks" in str(failed[0])
    assert sorted(store.committed) == ["a", "b", "c", "d"]  # each once, none twice


async def test_items_with_different_keys_never_share_a_batch() -> None:
    store = Store()
    gc = GroupCommit(store.run)
    results = await asyncio.gather(*(gc.submit(f"user{i % 3}", f"x{i}") for i in range(30)))
    assert results == [f"user{i % 3}:x{i}" for i in range(30)]
    for key, items in store.batches:
        assert all(int(item[1:]) % 3 == int(key[-1]) for item in items)


async def test_a_cancelled_caller_does_not_cancel_the_batch_of_the_others() -> None:
    store = Store()
    gc = GroupCommit(store.run)
    await gc.submit("k", "warm")
    first = asyncio.create_task(gc.submit("k", "running"))
    await asyncio.sleep(0)  # its batch has started
    waiting = [asyncio.create_task(gc.submit("k", f"w{i}")) for i in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()
    assert await first == "k:running"
    assert [await t for t in waiting[1:]] == ["k:w1", "k:w2"]
    with pytest.raises(asyncio.CancelledError):
        await waiting[0]
    await gc.aclose()
    assert "w0" in store.committed  # its write stands, as a request whose client went away after commit


async def test_an_unreachable_database_fails_the_batch_at_once_without_retries_item_by_item() -> None:
    calls: list[list[str]] = []

    async def run(key: str, items: Sequence[str]) -> list[str | BaseException]:
        calls.append(list(items))
        await asyncio.sleep(0.01)
        raise ConnectionRefusedError("connect call failed")

    gc = GroupCommit(run, concurrency=1)
    first = asyncio.create_task(gc.submit("k", "a"))
    await asyncio.sleep(0)
    results = await asyncio.gather(*(gc.submit("k", n) for n in "bcd"), return_exceptions=True)
    assert all(isinstance(r, ConnectionRefusedError) for r in results)
    with pytest.raises(ConnectionRefusedError):
        await first
    assert calls == [["a"], ["b", "c", "d"]]  # one attempt per batch, no single retries


async def test_batch_sizes_are_exported_as_a_histogram() -> None:
    from prometheus_client import REGISTRY

    def count(bucket: str) -> float:
        labels = {"service": "test", "name": "sizes", "le": bucket}
        return REGISTRY.get_sample_value("crm_group_commit_batch_size_bucket", labels) or 0.0

    before_1, before_8 = count("1.0"), count("8.0")
    gc = GroupCommit(Store().run, name="test.sizes")
    await gc.submit("k", "alone")
    await asyncio.gather(*(gc.submit("k", f"x{i}") for i in range(6)))
    assert count("1.0") - before_1 == 1  # the lone one
    assert count("8.0") - before_8 == 2  # both batches have at most 8


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        GroupCommit(Store().run, max_batch=0)
