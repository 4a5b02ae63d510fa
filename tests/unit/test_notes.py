"""Notes on a real store: key syntax, size bounds, versions, one event per write, and
watches woken by the write (no polling), resumable from a cursor."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sm.core.events import EventBus
from sm.core.notes import Notes, check_key, check_prefix
from sm.errors import InvalidInput, NotFound
from sm.store import Store


def run(tmp_path: Path, test: Callable[[Notes], Awaitable[None]]) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        try:
            await test(Notes(store, EventBus(), max_value_bytes=1024))
        finally:
            await store.close()

    asyncio.run(main())


@pytest.mark.parametrize("key", ["a", "build/status", "team-a/plan.v2", "_x/y_z", "A/B/C"])
def test_good_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "/a", "a/", "a//b", "-a", "a b", "a/.b", "ä", "x" * 201])
def test_bad_keys_are_refused_naming_the_rule(key: str) -> None:
    with pytest.raises(InvalidInput, match="note key"):
        check_key(key)


def test_prefixes_may_end_with_a_slash() -> None:
    assert check_prefix("build/") == "build/"
    assert check_prefix("") == ""
    with pytest.raises(InvalidInput):
        check_prefix("build//")


def test_write_read_list_and_one_event_per_write(tmp_path: Path) -> None:
    async def test(notes: Notes) -> None:
        first = await notes.write("build/status", "red", "s1", "w1")
        second = await notes.write("build/status", "green", None, "operator")
        await notes.write("build/log", "…", None, "operator")
        await notes.write("Build/other", "case differs", None, "operator")
        assert (first.version, second.version) == (1, 2) and second.seq > first.seq
        note = await notes.read("build/status")
        assert (note.value, note.writer, note.written_by) == ("green", "operator", None)
        assert [n.key for n in await notes.list("build/")] == ["build/log", "build/status"]
        assert [n.key for n in await notes.list()] == ["Build/other", "build/log",
                                                        "build/status"]
        events = await notes.store.events.list(kinds=("note",))
        assert [(e.payload["key"], e.payload["value"]) for e in events] == [
            ("build/status", "red"), ("build/status", "green"), ("build/log", "…"),
            ("Build/other", "case differs")]
        assert events[0].session_id == "s1"
        with pytest.raises(InvalidInput, match="the limit is 1024"):
            await notes.write("big", "x" * 1025, None, "operator")
        await notes.delete("build/log", None, "operator")
        with pytest.raises(NotFound, match="no note 'build/log'"):
            await notes.read("build/log")

    run(tmp_path, test)


def test_a_watch_wakes_on_the_write_not_before(tmp_path: Path) -> None:
    async def test(notes: Notes) -> None:
        await notes.write("a", "old", None, "operator")
        watch = asyncio.create_task(notes.watch(["a", "b"], timeout=10))
        while notes.watching == 0:
            await asyncio.sleep(0)
        await notes.write("c", "unwatched", None, "operator")
        done, _ = await asyncio.wait({watch}, timeout=0.05)
        assert not done
        written = time.monotonic()
        await notes.write("b", "new", None, "operator")
        found = await watch
        assert time.monotonic() - written < 0.1
        assert found.outcome == "written" and found.note is not None
        assert (found.note.key, found.note.value) == ("b", "new")
        assert notes.watching == 0

    run(tmp_path, test)


def test_until_matches_at_once_or_on_the_write_with_that_value(tmp_path: Path) -> None:
    async def test(notes: Notes) -> None:
        await notes.write("deploy/state", "done", None, "operator")
        now = await notes.watch(prefix="deploy/", until="done", timeout=0)
        assert now.outcome == "matched"
        watch = asyncio.create_task(notes.watch(["gate"], until="open", timeout=10))
        while notes.watching == 0:
            await asyncio.sleep(0)
        await notes.write("gate", "closed", None, "operator")
        done, _ = await asyncio.wait({watch}, timeout=0.02)
        assert not done
        await notes.write("gate", "open", None, "operator")
        assert (await watch).outcome == "matched"

    run(tmp_path, test)


def test_a_watch_resumes_from_its_cursor_missing_nothing(tmp_path: Path) -> None:
    async def test(notes: Notes) -> None:
        first = await notes.watch(["k"], timeout=0)
        assert first.outcome == "timeout" and first.note is None
        await notes.write("k", "between two requests", None, "operator")
        resumed = await notes.watch(["k"], after=first.seq, timeout=0)
        assert resumed.outcome == "written" and resumed.note.value == "between two requests"
        again = await notes.watch(["k"], after=resumed.seq, timeout=0)
        assert again.outcome == "timeout"
        with pytest.raises(InvalidInput, match="one of the two"):
            await notes.watch(timeout=0)

    run(tmp_path, test)
