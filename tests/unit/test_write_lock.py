"""The store's write lock: one holder; waiters that ask to go first do, in order."""

from __future__ import annotations

import asyncio

from sm.store.db import _WriteLock


def test_first_waiters_go_ahead_in_order_and_a_cancelled_one_is_skipped() -> None:
    async def main() -> list[str]:
        lock = _WriteLock()
        order: list[str] = []
        await lock.acquire(False)

        async def take(name: str, first: bool) -> None:
            await lock.acquire(first)
            order.append(name)
            await asyncio.sleep(0)
            lock.release()

        tasks = [asyncio.create_task(take(n, f)) for n, f in
                 (("r1", False), ("f1", True), ("r2", False), ("gone", True), ("f2", True))]
        await asyncio.sleep(0)
        tasks[3].cancel()
        lock.release()
        await asyncio.gather(*tasks, return_exceptions=True)
        await lock.acquire(False)  # free again
        return order

    assert asyncio.run(main()) == ["f1", "f2", "r1", "r2"]
