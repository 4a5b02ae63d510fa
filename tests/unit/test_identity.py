"""Who calls, decided from a process table the test writes: the kernel's word (a pane's
process tree, its kernel session) first, the token second, the operator last."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sm.core.identity import Identity, token_hash
from sm.errors import Refused, Unauthorized
from sm.runtime.base import Pane
from sm.runtime.procs import Proc
from sm.store import Store
from sm.store.sessions import SessionRecord
from sm.vocab import SessionState
from tests.unit.fake_runtime import FakeRuntime


class Procs:
    """A process table: pid → Proc."""

    def __init__(self) -> None:
        self.table: dict[int, Proc] = {}
        self.reads = 0  # stat() calls: reads of /proc

    def add(self, pid: int, ppid: int, sid: int, start: int = 100) -> None:
        self.table[pid] = Proc(pid, ppid, sid, start)

    def stat(self, pid: int) -> Proc | None:
        self.reads += 1
        return self.table.get(pid)


class Runtime(FakeRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.pids: dict[str, int] = {}
        self.listed = 0

    async def pane(self, name: str) -> Pane:
        p = self.pane_of(name)
        return Pane(name, "%1", self.pids.get(name, 0), p.dead, None, 0)

    async def panes(self) -> list[Pane]:
        self.listed += 1
        return await super().panes()


def run(test: Callable[[Identity, Procs, Runtime, Store], Awaitable[None]],
        tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        procs, runtime = Procs(), Runtime()
        try:
            for sid, state in (("aaa", SessionState.IDLE), ("bbb", SessionState.IDLE),
                               ("dead", SessionState.EXITED)):
                async with store.write() as conn:
                    await store.sessions.insert(conn, SessionRecord(
                        id=sid, name=None, provider="scripted", state=state, cwd="/",
                        tmux_session=f"sm-{sid}", parent_id=None, options={},
                        created_at=1.0, updated_at=1.0, token_hash=token_hash(f"tok-{sid}")))
            # tmux server 10; panes 20 (aaa), 30 (bbb), 40 (dead); your shell 50
            procs.add(10, 1, 10)
            for pane, sid in ((20, "aaa"), (30, "bbb"), (40, "dead")):
                procs.add(pane, 10, pane)
                await runtime.new_session(f"sm-{sid}", ["agent"], "/", {})
                runtime.pids[f"sm-{sid}"] = pane
            procs.add(50, 1, 50)
            identity = Identity(store, runtime, procs)
            await test(identity, procs, runtime, store)
        finally:
            await store.close()

    asyncio.run(main())


def test_a_process_under_a_pane_is_its_session_whatever_it_sends(tmp_path: Path) -> None:
    async def test(identity: Identity, procs: Procs, runtime: Runtime, store: Store) -> None:
        identity.watch("aaa", 20)
        procs.add(21, 20, 20)  # the agent's shell
        procs.add(22, 21, 20)  # sm, called from it
        assert (await identity.authenticate(22)).id == "aaa"
        assert (await identity.authenticate(22, "tok-aaa", "aaa")).id == "aaa"
        with pytest.raises(Refused, match="belongs to session bbb, but the call comes from "
                                          "inside session aaa"):
            await identity.authenticate(22, "tok-bbb")
        with pytest.raises(Refused, match="cannot speak for session bbb"):
            await identity.authenticate(22, "", "bbb")
        with pytest.raises(Unauthorized):
            await identity.authenticate(22, "forged")

    run(test, tmp_path)


def test_an_orphan_keeps_its_panes_kernel_session(tmp_path: Path) -> None:
    async def test(identity: Identity, procs: Procs, runtime: Runtime, store: Store) -> None:
        identity.watch("aaa", 20)
        procs.add(23, 1, 20)  # `( sm kill x & )`: reparented to init, same kernel session
        assert (await identity.authenticate(23)).id == "aaa"
        procs.add(24, 1, 24)  # after setsid: outside every session (docs/security.md)
        assert (await identity.authenticate(24)).is_operator

    run(test, tmp_path)


def test_outside_every_session_the_token_decides(tmp_path: Path) -> None:
    async def test(identity: Identity, procs: Procs, runtime: Runtime, store: Store) -> None:
        await identity.refresh()
        assert (await identity.authenticate(50)).is_operator
        assert (await identity.authenticate(50, "tok-bbb")).id == "bbb"
        assert (await identity.authenticate(None, "tok-bbb", "bbb")).id == "bbb"
        with pytest.raises(Refused, match="needs its token"):
            await identity.authenticate(50, "", "aaa")
        with pytest.raises(Refused, match="belongs to session bbb, not aaa"):
            await identity.authenticate(50, "tok-bbb", "aaa")

    run(test, tmp_path)


def test_a_pane_sm_did_not_know_yet_is_learnt_from_the_runtime_once(tmp_path: Path) -> None:
    async def test(identity: Identity, procs: Procs, runtime: Runtime, store: Store) -> None:
        procs.add(31, 30, 30)
        assert (await identity.authenticate(31)).id == "bbb"  # learnt from the runtime
        assert runtime.listed == 1
        for _ in range(3):  # your own shell: looked up once, then remembered
            assert (await identity.authenticate(50)).is_operator
        assert runtime.listed == 2

    run(test, tmp_path)


def test_dead_sessions_and_reused_pids_are_nobody(tmp_path: Path) -> None:
    async def test(identity: Identity, procs: Procs, runtime: Runtime, store: Store) -> None:
        identity.watch("dead", 40)
        procs.add(41, 40, 40)
        assert (await identity.authenticate(41)).is_operator  # its session is over
        identity.watch("aaa", 20)
        runtime.pane_of("sm-aaa").dead = True  # pane 20 died; another process got its pid
        procs.add(20, 1, 20, start=999)
        procs.add(25, 20, 20, start=999)
        assert (await identity.authenticate(25)).is_operator

    run(test, tmp_path)


def test_a_caller_is_placed_once_until_its_process_or_the_panes_change(tmp_path: Path) -> None:
    async def test(identity: Identity, procs: Procs, runtime: Runtime, store: Store) -> None:
        identity.watch("aaa", 20)
        procs.add(21, 20, 20)  # the agent's shell
        procs.add(22, 21, 20)  # sm, called from it
        assert (await identity.authenticate(22)).id == "aaa"
        reads = procs.reads
        for _ in range(3):  # placed as before: one read of /proc each
            assert (await identity.authenticate(22)).id == "aaa"
        assert procs.reads == reads + 3
        procs.add(22, 1, 20)  # reparented: placed again (by its kernel session)
        assert (await identity.authenticate(22)).id == "aaa"
        assert procs.reads > reads + 4
        procs.add(22, 1, 22)  # after setsid: outside every session
        assert (await identity.authenticate(22)).is_operator
        procs.add(22, 21, 20, start=555)  # a new process on the same pid
        assert (await identity.authenticate(22)).id == "aaa"
        reads = procs.reads
        identity.watch("bbb", 30)  # a pane learnt: every placement is forgotten
        assert (await identity.authenticate(22)).id == "aaa"
        assert procs.reads > reads + 2
        async with store.write() as conn:  # the session ends: its callers are nobody
            await store.sessions.update(conn, "aaa", 2.0, state=SessionState.EXITED)
        assert (await identity.authenticate(22)).is_operator

    run(test, tmp_path)
