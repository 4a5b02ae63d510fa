"""Launches after a rate limit: the pure slot rule, and spawns held and launched by the
launcher on a fake runtime (a real SQLite store on a temp path, a hand-moved clock)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sm.agents.scripted import Scripted
from sm.config import ScriptedSettings
from sm.core.caller import Caller
from sm.core.events import EventBus
from sm.core.health import limit_over_at
from sm.core.launches import Launcher, Pace, Pacing, Picture, slot
from sm.core.sessions import Sessions, SpawnRequest
from sm.core.state import Signal
from sm.store import Store
from sm.store.sessions import SessionRecord
from sm.vocab import EventKind, SessionState
from tests.unit.fake_runtime import FakeRuntime

NOW = time.mktime((2026, 1, 2, 10, 0, 0, 0, 0, -1))
PACING = Pacing(interval=2.0, max_starting=2, after_reset=60.0, start_timeout=30.0)


def test_no_rate_limit_launches_at_once() -> None:
    assert slot(Picture("claude", None, NOW - 0.1), PACING, NOW).go
    # a limit long over (past its window) paces nothing
    assert slot(Picture("claude", NOW - 61, NOW - 0.1), PACING, NOW).go


def test_before_the_reset_a_launch_waits_for_it() -> None:
    s = slot(Picture("claude", NOW + 90, None), PACING, NOW)
    assert (s.go, s.at) == (False, NOW + 90)
    assert s.reason == "claude is rate limited until 10:01:30"


def test_after_the_reset_launches_are_spaced_by_the_interval() -> None:
    reset = NOW - 5
    assert slot(Picture("claude", reset, None), PACING, NOW).go  # the first goes at once
    s = slot(Picture("claude", reset, NOW - 0.5, (NOW - 0.5,)), PACING, NOW)
    assert (s.go, s.at) == (False, NOW + 1.5)
    assert s.reason == ("claude launches are paced after its rate limit reset at 09:59:55: "
                        "one every 2s, at most 2 starting at once")
    assert slot(Picture("claude", reset, NOW - 2.0, (NOW - 2.0,)), PACING, NOW).go


def test_after_the_reset_at_most_max_starting_start_at_once() -> None:
    reset = NOW - 20
    starting = (NOW - 10, NOW - 5)  # both launched, neither ready yet
    s = slot(Picture("claude", reset, NOW - 5, starting), PACING, NOW)
    # a place frees when the older one has counted for start_timeout (or becomes ready)
    assert (s.go, s.at) == (False, NOW - 10 + 30)
    assert slot(Picture("claude", reset, NOW - 5, starting[1:]), PACING, NOW).go
    # one that never became ready stops counting after start_timeout
    old = (NOW - 31, NOW - 5)
    assert slot(Picture("claude", reset, NOW - 5, old), PACING, NOW).go
    # no cap
    free = Pacing(interval=2.0, max_starting=0, after_reset=60.0)
    assert slot(Picture("claude", reset, NOW - 5, (NOW - 9, NOW - 8, NOW - 5)), free, NOW).go


def test_a_paced_spawn_waits_behind_the_held_ones() -> None:
    s = slot(Picture("claude", NOW - 5, NOW - 9, (), ahead=2), PACING, NOW)
    assert not s.go and s.at == NOW and "paced" in s.reason


def test_when_a_rate_limit_is_over() -> None:
    assert limit_over_at({"class": "rate_limit", "reset_at": NOW + 9, "at": NOW}) == NOW + 9
    # a turn that ended well lifted it early
    assert limit_over_at({"class": "rate_limit", "reset_at": NOW + 9, "at": NOW,
                          "lifted_at": NOW + 3}) == NOW + 3
    assert limit_over_at({"class": "rate_limit", "at": NOW, "detail": "x"}) == NOW
    assert limit_over_at({"class": "overloaded", "at": NOW}) is None
    assert limit_over_at(None) is None


# -- held spawns through the sessions and the launcher ----------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


async def _world(tmp_path: Path, clock: Clock) -> tuple[Store, FakeRuntime, Sessions, Launcher]:
    store = await Store.open(tmp_path / "sm.db")
    bus, runtime = EventBus(), FakeRuntime()
    pace = Pace(store, PACING)
    sessions = Sessions(
        store, runtime, {"scripted": Scripted(ScriptedSettings())}, bus,
        sessions_dir=tmp_path / "sessions", hook_command="true", base_env={}, agent_env={},
        max_prompt_bytes=1 << 16, pace=pace, clock=clock)
    return store, runtime, sessions, Launcher(store, bus, pace, sessions.launch_held,
                                              clock=clock)


async def _limited(store: Store, reset: float) -> None:
    """A scripted session that hit a rate limit resetting at ``reset``."""
    rec = SessionRecord(id="lim", name="lim", provider="scripted", state=SessionState.IDLE,
                        cwd="/", tmux_session="sm-lim", parent_id=None, options={},
                        created_at=NOW - 100, updated_at=NOW - 100,
                        failure={"class": "rate_limit", "reset_at": reset, "at": NOW - 1,
                                 "detail": "rate_limit"})
    async with store.write() as conn:
        await store.sessions.insert(conn, rec)


async def _spawn(sessions: Sessions, name: str, tmp_path: Path) -> SessionRecord:
    return await sessions.spawn(SpawnRequest("scripted", name=name), Caller.operator("cli"),
                                cwd=tmp_path)


async def _launched(store: Store) -> list[tuple[str, float]]:
    events = await store.events.list(kinds=(EventKind.LAUNCHED,))
    return [(e.session_id or "", e.ts) for e in events]


def test_spawns_during_a_rate_limit_are_held_then_launched_paced(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        store, runtime, sessions, launcher = await _world(tmp_path, clock)
        reset = NOW + 30
        await _limited(store, reset)
        recs = [await _spawn(sessions, f"w{i}", tmp_path) for i in range(4)]
        for rec in recs:  # recorded at once, not launched, with the reason
            assert rec.state == SessionState.STARTING and rec.launched_at is None
            assert rec.launch_hold == {"reason": "scripted is rate limited until 10:00:30",
                                       "since": NOW}
        assert not runtime.panes_by_name and not await _launched(store)
        spawned = await store.events.list(kinds=(EventKind.SPAWNED,))
        assert spawned[0].payload["held"] == "scripted is rate limited until 10:00:30"
        assert await launcher.next_due() == reset

        clock.now = reset - 1
        await launcher.run_due(clock.now)
        assert not runtime.panes_by_name  # still before the reset

        clock.now = reset  # the first goes at the reset
        await launcher.run_due(clock.now)
        assert list(runtime.panes_by_name) == ["sm-" + recs[0].id]
        assert await launcher.next_due() == reset + 2
        held = await store.sessions.get(recs[1].id)
        assert held is not None and held.launch_hold is not None
        assert held.launch_hold["reason"].startswith("scripted launches are paced after its "
                                                     "rate limit reset at 10:00:30")
        clock.now = reset + 1
        await launcher.run_due(clock.now)
        assert len(runtime.panes_by_name) == 1  # not before the interval

        clock.now = reset + 2
        await launcher.run_due(clock.now)
        assert len(runtime.panes_by_name) == 2
        # two starting (neither ready): the cap holds the third past the interval
        assert await launcher.next_due() == reset + 30
        clock.now = reset + 4
        await launcher.run_due(clock.now)
        assert len(runtime.panes_by_name) == 2
        # the first becomes ready: a place is free
        await sessions.apply(recs[0].id, Signal("SessionStart", "startup"),
                             {"hook": "SessionStart"})
        assert await launcher.next_due() == reset + 4
        await launcher.run_due(clock.now)
        assert len(runtime.panes_by_name) == 3

        launched = await _launched(store)
        assert [sid for sid, _ in launched] == [r.id for r in recs[:3]]  # first come first
        assert [ts for _, ts in launched] == [reset, reset + 2, reset + 4]
        events = await store.events.list(session_id=recs[2].id, kinds=(EventKind.LAUNCHED,))
        assert events[0].payload["held_for"] == 34.0
        assert events[0].payload["argv"]
        done = await store.sessions.get(recs[2].id)
        assert done is not None and done.launch_hold is None and done.launched_at == reset + 4
        await store.close()

    asyncio.run(main())


def test_a_spawn_while_paced_goes_behind_the_held_ones_and_outside_a_limit_at_once(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        clock = Clock()
        store, runtime, sessions, launcher = await _world(tmp_path, clock)
        # no rate limit: launched at once, as ever
        free = await _spawn(sessions, "free", tmp_path)
        assert free.launch_hold is None and free.launched_at == NOW
        assert list(runtime.panes_by_name) == [free.tmux_session]
        launched = await store.events.list(kinds=(EventKind.LAUNCHED,))
        assert launched[0].payload == {"argv": launched[0].payload["argv"], "held_for": 0.0}

        await _limited(store, NOW + 10)
        a = await _spawn(sessions, "a", tmp_path)
        clock.now = NOW + 10.5  # after the reset, while a is still held
        b = await _spawn(sessions, "b", tmp_path)
        assert b.launch_hold is not None and "paced" in b.launch_hold["reason"]
        await launcher.run_due(clock.now)
        assert (await store.sessions.get(a.id)).launched_at == NOW + 10.5  # type: ignore[union-attr]
        assert (await store.sessions.get(b.id)).launch_hold is not None  # type: ignore[union-attr]

        # killed while held: never launched
        killed = await sessions.kill(b, Caller.operator("cli"))
        assert (killed.state, killed.launch_hold) == (SessionState.STOPPED, None)
        clock.now = NOW + 100
        await launcher.run_due(clock.now)
        assert b.tmux_session not in runtime.panes_by_name
        assert await launcher.next_due() is None
        await store.close()

    asyncio.run(main())


def test_held_spawns_survive_a_restart(tmp_path: Path) -> None:
    async def main() -> None:
        clock = Clock()
        store, runtime, sessions, _ = await _world(tmp_path, clock)
        await _limited(store, NOW + 10)
        held = await _spawn(sessions, "h", tmp_path)
        await store.close()

        # a new daemon on the same store: reconcile leaves the held spawn alone, and the
        # new launcher launches it at the reset
        store, runtime, sessions, launcher = await _world(tmp_path, clock)
        await sessions.reconcile()
        rec = await store.sessions.get(held.id)
        assert rec is not None and rec.state == SessionState.STARTING
        assert await launcher.next_due() == NOW + 10
        clock.now = NOW + 10
        await launcher.run_due(clock.now)
        assert held.tmux_session in runtime.panes_by_name
        await store.close()

    asyncio.run(main())
