"""The event stream's ordering rules and the bus's bounded subscriber buffers, on a
real store in a temp directory (no daemon, no tmux)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sm.core.events import EventBus
from sm.core.stream import EventStream, Missed, StreamFilter
from sm.store import Store
from sm.store.events import EventRecord


def test_a_full_buffer_counts_what_it_missed_and_never_blocks() -> None:
    async def main() -> None:
        bus = EventBus(subscriber_buffer=3)
        sub = bus.subscribe()
        await bus.publish([EventRecord(i, 0.0, None, "x", {}) for i in range(1, 9)])
        assert [e.seq for e in sub.drain()] == [1, 2, 3]
        assert sub.take_missed() == (4, 8) and sub.take_missed() is None
        await bus.publish([EventRecord(9, 0.0, None, "x", {})])
        assert [e.seq for e in sub.drain()] == [9]
        bus.unsubscribe(sub)
        assert bus.subscribers == 0

    asyncio.run(main())


def test_a_listener_of_some_kinds_sees_those_in_order_and_is_never_woken_by_the_rest() -> None:
    async def main() -> None:
        bus = EventBus()
        seen: dict[str, list[int]] = {"all": [], "some": []}

        async def every(ev: EventRecord) -> None:
            seen["all"].append(ev.seq)

        async def some(ev: EventRecord) -> None:
            seen["some"].append(ev.seq)

        bus.listen(every, "every")
        bus.listen(some, "some", kinds=("state", "message"))
        kinds = ["hook", "state", "hook", "message", "note", "state"]
        await bus.publish([EventRecord(i, 0.0, "s", k, {}) for i, k in enumerate(kinds, 1)])
        await bus.settle()
        assert seen == {"all": [1, 2, 3, 4, 5, 6], "some": [2, 4, 6]}
        await bus.publish([EventRecord(7, 0.0, "s", "hook", {})])
        await bus.settle()
        assert seen["some"] == [2, 4, 6]
        await bus.close()

    asyncio.run(main())


async def _append(store: Store, bus: EventBus, n: int, session: str | None = None,
                  kind: str = "x", publish: bool = True) -> list[EventRecord]:
    out = []
    for _ in range(n):
        async with store.write() as conn:
            ev = await store.events.append(conn, 0.0, session, kind, {})
        assert ev is not None
        out.append(ev)
    if publish:
        await bus.publish(out)
    return out


async def _take(frames: Any, n: int) -> list[Any]:
    out = []
    async for item in frames:
        if item is not None:
            out.append(item)
        if len(out) == n:
            return out
    return out


def test_backfill_then_live_with_no_gap_even_when_published_out_of_order(tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        bus = EventBus(subscriber_buffer=2)
        stream = EventStream(store, bus, page=3, keepalive=0.5)
        await _append(store, bus, 5)
        assert await stream.latest_seq() == 5
        frames = stream.follow(after=1)
        head = await _take(frames, 4)
        assert [e.seq for e in head] == [2, 3, 4, 5]
        first = await _append(store, bus, 2, publish=False)
        await bus.publish(first[::-1])  # a later commit published first
        more = await _append(store, bus, 6)  # overflows the 2-event buffer
        got = await _take(frames, 9)
        missed = [m for m in got if isinstance(m, Missed)]
        assert missed and missed[0].first > 5
        assert [e.seq for e in got if not isinstance(e, Missed)] == [e.seq for e in first + more]
        await frames.aclose()
        assert bus.subscribers == 0
        await store.close()

    asyncio.run(main())


def test_filters_by_session_and_kind(tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        bus = EventBus()
        stream = EventStream(store, bus, keepalive=0.2)
        frames = stream.follow(filter=StreamFilter("s1", None, ("state",)))
        task = asyncio.create_task(_take(frames, 2))
        await asyncio.sleep(0.05)
        await _append(store, bus, 2, "s2", "state")
        want = await _append(store, bus, 1, "s1", "state")
        await _append(store, bus, 1, "s1", "hook")
        want += await _append(store, bus, 1, "s1", "state")
        got = await asyncio.wait_for(task, 5)
        assert [e.seq for e in got] == [e.seq for e in want]
        await frames.aclose()
        await store.close()

    asyncio.run(main())
