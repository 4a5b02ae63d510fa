"""Locks: the pure rules (overlap, conflicts, wait-for cycles, what a tool writes) and
the lease service on a real SQLite store under tmp_path (no tmux, no sockets)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from sm.core.events import EventBus
from sm.core.leases import Leases
from sm.core.locks import (
    conflicts,
    deny,
    describe_cycle,
    destructive_git,
    find_cycle,
    overlaps,
    patch_paths,
    written_paths,
)
from sm.errors import Conflict, Deadlock, InvalidInput
from sm.git.run import canonical, toplevel
from sm.store import Store
from sm.store.locks import Lease
from sm.store.sessions import SessionRecord


def lease(path: str, holder: str, at: float = 0.0, kind: str = "path") -> Lease:
    return Lease(id=f"{holder}:{path}", path=path, session_id=holder, kind=kind,  # type: ignore[arg-type]
                 reason="", auto=False, acquired_at=at)


# -- pure rules ------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("/r/a.py", "/r/a.py", True),
    ("/r", "/r/a.py", True),  # a directory covers what is beneath it
    ("/r/a.py", "/r", True),  # and the reverse
    ("/r/src", "/r/src/deep/x.py", True),
    ("/r/a.py", "/r/a.pyc", False),  # a prefix of the name is not a parent
    ("/r/src", "/r/src2/x", False),
    ("/r/a", "/r/b", False),
    ("/", "/anything", True),
])
def test_overlap(a: str, b: str, expected: bool) -> None:
    assert overlaps(a, b) is expected
    assert overlaps(b, a) is expected


def test_conflicts_ignore_the_requesters_own_leases_and_sort_oldest_first() -> None:
    held = [lease("/r/b", "B", 2), lease("/r", "C", 1), lease("/r/a", "A", 0)]
    assert [x.session_id for x in conflicts(held, "A", ["/r/a"])] == ["C"]
    assert [x.session_id for x in conflicts(held, "Z", ["/r/a", "/r/b"])] == ["A", "C", "B"]
    assert conflicts(held, "Z", ["/other"]) == []


def test_find_cycle() -> None:
    assert find_cycle({"A": {"B"}, "B": {"A"}}, "A") == ["A", "B", "A"]
    assert find_cycle({"A": {"B"}, "B": {"C"}, "C": {"A"}}, "A") == ["A", "B", "C", "A"]
    assert find_cycle({"A": {"B"}, "B": {"C"}, "C": set()}, "A") is None
    assert find_cycle({"A": {"B"}, "B": {"C"}, "C": {"B"}}, "A") is None  # not through A
    assert find_cycle({}, "A") is None


def test_describe_cycle_names_what_each_holds_and_waits_for() -> None:
    holds = {"A": [lease("/x", "A")], "B": [lease("/y", "B")]}
    wants = {"A": ["/y"], "B": ["/x"]}
    text = describe_cycle(["B", "A", "B"], wants, holds, {"A": "alice", "B": "bob"})
    assert text == ("bob holds /y and waits for /x held by alice; "
                    "alice holds /x and waits for /y held by bob")


def test_written_paths_for_each_write_tool() -> None:
    assert written_paths("Write", {"file_path": "/a", "content": ""}) == ["/a"]
    assert written_paths("Edit", {"file_path": "b.py"}) == ["b.py"]
    assert written_paths("MultiEdit", {"file_path": "/c", "edits": []}) == ["/c"]
    assert written_paths("NotebookEdit", {"notebook_path": "/n.ipynb"}) == ["/n.ipynb"]
    assert written_paths("Read", {"file_path": "/a"}) == []
    assert written_paths("Bash", {"command": "echo > x"}) == []


def test_apply_patch_paths() -> None:
    patch = ("*** Begin Patch\n*** Update File: src/a.py\n@@\n-x\n+y\n"
             "*** Add File: docs/new.md\n+hi\n*** Delete File: old.txt\n"
             "*** Update File: src/b.py\n*** Move to: src/c.py\n*** End Patch\n")
    assert patch_paths({"command": ["apply_patch", patch]}) == [
        "src/a.py", "docs/new.md", "old.txt", "src/b.py", "src/c.py"]
    assert written_paths("apply_patch", {"input": patch})[0] == "src/a.py"


@pytest.mark.parametrize(("command", "expected"), [
    ("git checkout main", [("checkout", None)]),
    ("git switch -c x", [("switch", None)]),
    ("git restore a.py", [("restore", None)]),
    ("git clean -fdx", [("clean", None)]),
    ("git stash", [("stash", None)]),
    ("git stash pop", [("stash", None)]),
    ("git stash list", []),
    ("git rebase main", [("rebase", None)]),
    ("git merge feature", [("merge", None)]),
    ("git reset --hard HEAD~1", [("reset", None)]),
    ("git reset HEAD a.py", []),
    ("git status && git diff", []),
    ("cd x && git -C sub checkout .", [("checkout", "sub")]),
    ("GIT_DIR=x /usr/bin/git -c a=b checkout -- f", [("checkout", None)]),
    ("echo git checkout", []),
    ("make; git commit -m 'x; git checkout'", []),
    ("ls | git merge x", [("merge", None)]),
])
def test_destructive_git(command: str, expected: list[tuple[str, str | None]]) -> None:
    assert destructive_git(command) == expected


def test_deny_is_claude_codes_pretooluse_shape() -> None:
    assert deny("no") == {"hookSpecificOutput": {
        "hookEventName": "PreToolUse", "permissionDecision": "deny",
        "permissionDecisionReason": "no"}}


def test_canonical_paths_collide_through_symlinks_and_relative_names(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "f.txt").write_text("x")
    (tmp_path / "link").symlink_to(real)
    a = canonical("f.txt", str(real))
    assert a == canonical(str(tmp_path / "link" / "f.txt"), "/")
    assert a == canonical("../real/./f.txt", str(real))
    assert canonical("new/file", str(tmp_path / "link")) == str(real / "new" / "file")
    assert canonical("dir/", str(real)) == str(real / "dir")


def test_toplevel(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "src").mkdir()
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text("gitdir: elsewhere\n")  # a linked worktree
    assert toplevel(str(tmp_path / "repo" / "src" / "missing.py")) == str(tmp_path / "repo")
    assert toplevel(str(tmp_path / "wt")) == str(tmp_path / "wt")
    assert toplevel("/") is None or os.path.exists("/.git")


# -- the lease service on a real store ---------------------------------------------------------


async def add_session(store: Store, sid: str, state: str = "running") -> SessionRecord:
    rec = SessionRecord(id=sid, name=sid.lower(), provider="shell", state=state, cwd="/",
                        tmux_session=f"sm-{sid}", parent_id=None, options={}, created_at=1.0,
                        updated_at=1.0, token_hash=f"h-{sid}")
    async with store.write() as conn:
        await store.sessions.insert(conn, rec)
    return rec


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_lease_service(tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        bus = EventBus()
        leases = Leases(store, bus, auto_release_idle=5.0)
        await leases.start()
        a, b = await add_session(store, "A"), await add_session(store, "B")
        try:
            # all or nothing
            await leases.acquire(a, ["/r/x"])
            with pytest.raises(Conflict, match="/r/x held by a"):
                await leases.acquire(b, ["/r/y", "/r/x"])
            assert [x.path for x in leases.leases("B")] == []
            # a directory lock conflicts with a file beneath it, and the reverse
            with pytest.raises(Conflict):
                await leases.acquire(b, ["/r"])
            await leases.acquire(b, ["/q"])
            with pytest.raises(Conflict):
                await leases.acquire(a, ["/q/deep/file"])
            # a waiter is woken by the release, not by polling
            waiting = asyncio.create_task(leases.acquire(b, ["/r/x"], wait=10))
            await asyncio.sleep(0.05)
            assert leases.waiting() == [{"session_id": "B", "paths": ["/r/x"]}]
            # A now waiting for /q (held by B) would close the cycle: refused at once
            with pytest.raises(Deadlock, match="a holds /r/x and waits for /q held by b"):
                await leases.acquire(a, ["/q"], wait=10)
            started = time.monotonic()
            await leases.release("A", None, by="A")
            got = await asyncio.wait_for(waiting, 2)
            assert time.monotonic() - started < 0.5
            assert [x.path for x in got] == ["/r/x"]
            # a wait that times out names the holders
            with pytest.raises(Conflict, match="timed out after 0.1s waiting for /q held by b"):
                await leases.acquire(a, ["/q"], wait=0.1)
            # the store mirrors memory; a restart reloads it
            assert await store.locks.count() == 2
            kinds = [e.payload["action"] for e in await store.events.list(kinds=("lock",),
                                                                           limit=100)]
            assert {"granted", "refused", "waiting", "deadlock", "released",
                    "timeout"} <= set(kinds)
            with pytest.raises(InvalidInput):
                await leases.release("A", ["/nothing"], by="A")
        finally:
            await leases.close()
            await store.close()

    run(main())


def test_holder_death_ttl_and_idle_grace(tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        bus = EventBus()
        leases = Leases(store, bus, auto_release_idle=0.2)
        await leases.start()
        a = await add_session(store, "A")
        try:
            await leases.acquire(a, ["/ttl"], ttl=0.2)
            await leases.acquire(a, ["/auto"], auto=True)
            await leases.acquire(a, ["/auto/inside"], auto=True)  # covered: no new lease
            await leases.acquire(a, ["/kept"])
            assert sorted(x.path for x in leases.leases("A")) == ["/auto", "/kept", "/ttl"]
            await asyncio.sleep(0.4)
            assert sorted(x.path for x in leases.leases("A")) == ["/auto", "/kept"]
            # idle past the grace ends auto leases only; running again cancels the timer
            async with store.write() as conn:
                idle = await store.events.append(conn, time.time(), "A", "state",
                                                 {"from": "running", "to": "idle"})
                busy = await store.events.append(conn, time.time(), "A", "state",
                                                 {"from": "idle", "to": "running"})
            assert idle is not None and busy is not None
            await bus.publish([idle, busy])
            await bus.settle()
            await asyncio.sleep(0.35)
            assert sorted(x.path for x in leases.leases("A")) == ["/auto", "/kept"]
            await bus.publish([idle])
            await bus.settle()
            await asyncio.sleep(0.35)
            assert [x.path for x in leases.leases("A")] == ["/kept"]
            # `sm task-complete` ends the auto leases at once
            await leases.acquire(a, ["/auto2"], auto=True)
            async with store.write() as conn:
                done = await store.events.append(conn, time.time(), "A", "task_complete",
                                                 {"text": ""})
            assert done is not None
            await bus.publish([done])
            await bus.settle()
            assert [x.path for x in leases.leases("A")] == ["/kept"]
            # the holder dies: everything goes at once
            async with store.write() as conn:
                died = await store.events.append(conn, time.time(), "A", "state",
                                                 {"from": "idle", "to": "error"})
            assert died is not None
            await bus.publish([died])
            await bus.settle()
            assert leases.leases("A") == []
            assert await store.locks.count() == 0
        finally:
            await leases.close()
            await bus.close()
            await store.close()

    run(main())


def test_restart_drops_leases_of_sessions_that_died_meanwhile(tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        leases = Leases(store, EventBus())
        await leases.start()
        a, b = await add_session(store, "A"), await add_session(store, "B")
        await leases.acquire(a, ["/a"])
        await leases.acquire(b, ["/b"])
        await leases.close()
        async with store.write() as conn:
            await store.sessions.update(conn, "A", time.time(), state="exited")
        again = Leases(store, EventBus())
        await again.start()
        assert [x.path for x in again.leases()] == ["/b"]
        await again.close()
        await store.close()

    run(main())
