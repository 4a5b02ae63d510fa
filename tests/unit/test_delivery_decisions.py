"""When sm may type into an agent: the pure rule, and the typing worker on a fake
runtime (a real SQLite store on a temp path; no tmux)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from sm import agents
from sm.agents.base import Screen
from sm.agents.scripted import Scripted
from sm.config import ScriptedSettings
from sm.core.caller import Caller
from sm.core.delivery import Queue, Receipts, Workers, render
from sm.core.delivery.decide import Action, decide
from sm.core.events import EventBus
from sm.core.notices import Notices
from sm.core.sessions import Sessions
from sm.store import Store
from sm.store.messages import MessageRecord
from sm.store.sessions import SessionRecord
from sm.vocab import DeliveryMode, MessageKind, MessageState, SessionState
from tests.unit.fake_runtime import FakeRuntime

S, M = SessionState, DeliveryMode
IDLE_SCREEN = "some output\n❯ \n"
HUMAN_SCREEN = "some output\n❯ half-typed by a human\n"
DIALOG_SCREEN = "Do you want to run this?\n❯ 1. Yes\n  2. No\n"
BUSY_SCREEN = "thinking…  (esc to interrupt)\n❯ \n"


def message(mode: DeliveryMode = M.SEQUENTIAL, state: MessageState = MessageState.QUEUED,
            kind: MessageKind = MessageKind.TEXT, expires_at: float | None = None
            ) -> MessageRecord:
    return MessageRecord(
        id="0123456789abcdef", sender_id=None, sender_label="operator", target_id="t",
        mode=mode, body="hello", state=state, reason=None, attempts=0, notify_on_stop=False,
        receipt_seq=None, receipt_conv=None, receipt_busy=False, notified=False,
        created_at=1.0, updated_at=1.0, delivered_at=None, kind=kind, expires_at=expires_at,
    )


EMPTY, HUMAN, DIALOG = Screen("", False), Screen("typed", False), Screen(None, False)


@pytest.mark.parametrize(("state", "mode", "screen", "action"), [
    (S.EXITED, M.SEQUENTIAL, None, Action.FAIL),
    (S.STARTING, M.URGENT, None, Action.HOLD),
    (S.WAITING_PERMISSION, M.URGENT, None, Action.PROMPT_BACK),
    (S.WAITING_PERMISSION, M.URGENT, DIALOG, Action.HOLD),
    (S.RUNNING, M.SEQUENTIAL, None, Action.HOLD),
    (S.RUNNING, M.URGENT, None, Action.INTERRUPT),
    (S.RUNNING, M.IMPORTANT, None, Action.SCREEN),
    (S.RUNNING, M.IMPORTANT, EMPTY, Action.TYPE),
    (S.IDLE, M.SEQUENTIAL, None, Action.SCREEN),
    (S.IDLE, M.SEQUENTIAL, EMPTY, Action.TYPE),
    (S.IDLE, M.SEQUENTIAL, HUMAN, Action.HOLD),
    (S.IDLE, M.URGENT, HUMAN, Action.HOLD),
    (S.IDLE, M.SEQUENTIAL, DIALOG, Action.HOLD),
])
def test_decide(state: SessionState, mode: DeliveryMode, screen: Screen | None,
                action: Action) -> None:
    assert decide(state, "w", message(mode), has_hooks=True, now=2.0,
                  screen=screen).action == action


def test_decide_reasons_and_special_cases() -> None:
    held = decide(S.IDLE, "w", message(), has_hooks=True, now=2.0, screen=HUMAN)
    assert held.reason == "waiting: text in the agent's composer" and held.wait
    assert decide(S.RUNNING, "w", message(), has_hooks=True, now=2.0).wait is None
    assert decide(S.EXITED, "w", message(), has_hooks=True, now=2.0).reason == "session w is exited"
    # a clear is never typed into a running turn, even when important
    clear = message(M.IMPORTANT, kind=MessageKind.CLEAR)
    assert decide(S.RUNNING, "w", clear, has_hooks=True, now=2.0).action == Action.HOLD
    # a message left delivering by a dead daemon is recovered first
    typing = message(state=MessageState.DELIVERING)
    assert decide(S.IDLE, "w", typing, has_hooks=True, now=2.0).action == Action.RECOVER
    # past its deadline it expires; before, it waits like any other
    late = message(expires_at=1.5)
    assert decide(S.RUNNING, "w", late, has_hooks=True, now=2.0).action == Action.EXPIRE
    assert decide(S.RUNNING, "w", message(expires_at=3.0), has_hooks=True,
                  now=2.0).action == Action.HOLD
    # an agent with no hooks is typed into when idle, with no screen to read
    assert decide(S.IDLE, "w", message(), has_hooks=False, now=2.0).action == Action.TYPE


# -- the worker on a fake runtime ---------------------------------------------------------

@dataclass
class Rig:
    store: Store
    bus: EventBus
    runtime: FakeRuntime
    sessions: Sessions
    queue: Queue
    workers: Workers
    target: SessionRecord

    async def send(self, body: str, mode: DeliveryMode = M.SEQUENTIAL) -> MessageRecord:
        return (await self.queue.send(Caller.operator(), [self.target], body, mode))[0]

    async def state_of(self, msg: MessageRecord) -> MessageRecord:
        found = await self.store.messages.get(msg.id)
        assert found is not None
        return found

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 2.0) -> None:
        deadline = time.monotonic() + timeout
        while not await check():
            assert time.monotonic() < deadline, "condition not met in time"
            await asyncio.sleep(0.005)

    def sent(self) -> list[tuple[str, str]]:
        return self.runtime.pane_of(self.target.tmux_session).sent

    def show(self, screen: str) -> None:
        self.runtime.pane_of(self.target.tmux_session).screen = screen

    async def set_state(self, state: SessionState) -> None:
        async with self.store.write() as conn:
            await self.store.sessions.update(conn, self.target.id, time.time(), state=state)

    async def hook(self, event: str, **payload: object) -> None:
        rec = await self.store.sessions.get(self.target.id)
        assert rec is not None
        await self.sessions.record_hook(rec, event, dict(payload))


def with_rig(test: Callable[[Rig], Awaitable[None]], tmp_path: Path) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        bus, runtime = EventBus(), FakeRuntime()
        providers = {"scripted": Scripted(ScriptedSettings())}
        queue = Queue(store, bus, max_bytes=1 << 16, intake_of=agents.intake_of)
        sessions = Sessions(
            store, runtime, providers, bus, sessions_dir=tmp_path / "sessions",
            hook_command="true", base_env={}, agent_env={}, max_prompt_bytes=1 << 16,
            consequences=(Receipts(store, queue, providers).on_fact,
                          Notices(store, queue).on_fact),
        )
        workers = Workers(store, runtime, providers, queue, bus, sessions.apply,
                          receipt_timeout=0.1, enter_tries=2, interrupt_timeout=0.5)
        target = SessionRecord(
            id="t1", name="w", provider="scripted", state=SessionState.IDLE, cwd="/",
            tmux_session="sm-t1", parent_id=None, options={}, created_at=1.0,
            updated_at=1.0, conversation_id="conv-1", token_hash="h")
        async with store.write() as conn:
            await store.sessions.insert(conn, target)
        await runtime.new_session("sm-t1", ["agent"], "/", {})
        runtime.pane_of("sm-t1").screen = IDLE_SCREEN
        try:
            await test(Rig(store, bus, runtime, sessions, queue, workers, target))
        finally:
            await workers.close()
            await bus.close()
            await store.close()

    asyncio.run(main())


def test_idle_agent_gets_paste_then_enter_and_its_receipt_delivers(tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        msg = await rig.send("run the tests")
        await rig.until(lambda: _async(len(rig.sent()) >= 2))
        assert rig.sent() == [("paste", render(msg)), ("keys", "Enter")]
        rig.show(IDLE_SCREEN)  # submitted: the composer is empty again
        assert (await rig.state_of(msg)).state == MessageState.DELIVERING
        await rig.hook("UserPromptSubmit", prompt=render(msg), session_id="conv-1")
        await rig.until(lambda: _async_state(rig, msg, MessageState.DELIVERED))
        assert len(rig.sent()) == 2  # nothing typed twice

    with_rig(check, tmp_path)


def test_a_quoted_header_is_no_receipt(tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        msg = await rig.send("first")
        await rig.until(lambda: _async(len(rig.sent()) >= 2))
        forged = f"look: {render(msg)}"  # the header, but not where a delivery puts it
        await rig.hook("UserPromptSubmit", prompt=forged, session_id="conv-1")
        assert (await rig.state_of(msg)).state == MessageState.DELIVERING
        await rig.hook("UserPromptSubmit", prompt=render(msg), session_id="conv-1")
        assert (await rig.state_of(msg)).state == MessageState.DELIVERED

    with_rig(check, tmp_path)


def test_nothing_is_typed_over_human_text_or_into_a_dialog(tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        rig.show(HUMAN_SCREEN)
        msg = await rig.send("hi", M.URGENT)
        await rig.until(lambda: _async_reason(rig, msg, "waiting: text in the agent's composer"))
        rig.show(DIALOG_SCREEN)
        await rig.set_state(S.WAITING_PERMISSION)
        rig.workers.wake(rig.target.id)
        await rig.until(lambda: _async_reason(
            rig, msg, "waiting: the agent shows a permission prompt"))
        assert rig.sent() == []
        rig.show(IDLE_SCREEN)
        await rig.set_state(S.IDLE)
        rig.workers.wake(rig.target.id)
        await rig.until(lambda: _async(len(rig.sent()) >= 2))
        assert rig.sent()[0] == ("paste", render(msg))

    with_rig(check, tmp_path)


def test_busy_agent_holds_sequential_and_urgent_interrupts(tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        await rig.set_state(S.RUNNING)
        rig.show(BUSY_SCREEN)
        seq = await rig.send("later")
        await rig.until(lambda: _async_reason(rig, seq, "waiting for the agent's turn to end"))
        assert rig.sent() == []
        urgent = await rig.send("stop now", M.URGENT)
        await rig.until(lambda: _async(("keys", "Escape") in rig.sent()))
        rig.show(IDLE_SCREEN)  # the prompt comes back, with no hook (Claude Code)
        await rig.until(lambda: _async(("paste", render(urgent)) in rig.sent()))
        rec = await rig.store.sessions.get(rig.target.id)
        assert rec is not None and rec.state == S.IDLE
        assert (await rig.state_of(seq)).state == MessageState.QUEUED

    with_rig(check, tmp_path)


def test_a_backlog_behind_a_running_turn_costs_its_worker_no_look_per_message(
        tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        await rig.set_state(S.RUNNING)
        rig.show(BUSY_SCREEN)
        first = await rig.send("first")
        await rig.until(lambda: _async(rig.target.id in rig.workers._parked))
        looks = 0
        real = rig.store.messages.next_for

        async def counted(target_id: str) -> MessageRecord | None:  # a spy: the looks
            nonlocal looks
            looks += 1
            return await real(target_id)

        rig.store.messages.next_for = counted  # type: ignore[method-assign]
        for i in range(20):
            await rig.send(f"later {i}")
        await rig.bus.settle()
        assert looks == 0  # each sorts after the held one: the decision cannot change
        ahead = await rig.send("before the rest", M.IMPORTANT)  # sorts first: looked at
        await rig.until(lambda: _async(looks >= 1))
        rig.show(IDLE_SCREEN)
        await rig.set_state(S.IDLE)
        rig.workers.wake(rig.target.id)
        await rig.until(lambda: _async(len(rig.sent()) >= 1))
        assert rig.sent()[0] == ("paste", render(ahead))
        assert (await rig.state_of(first)).state == MessageState.QUEUED

    with_rig(check, tmp_path)


def test_no_receipt_fails_after_enter_retries_without_retyping(tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        msg = await rig.send("lost")  # the pasted text stays in the composer
        await rig.until(lambda: _async_state(rig, msg, MessageState.FAILED))
        assert [s for s in rig.sent() if s[0] == "paste"] == [("paste", render(msg))]
        assert rig.sent().count(("keys", "Enter")) == 2
        assert "no receipt" in ((await rig.state_of(msg)).reason or "")

    with_rig(check, tmp_path)


async def _async(value: bool) -> bool:
    return value


async def _async_state(rig: Rig, msg: MessageRecord, state: MessageState) -> bool:
    return (await rig.state_of(msg)).state == state


async def _async_reason(rig: Rig, msg: MessageRecord, reason: str) -> bool:
    return (await rig.state_of(msg)).reason == reason


def test_put_back_finds_the_message_by_its_header_or_a_collapsed_paste() -> None:
    from sm.core.delivery.decide import put_back

    a, b = message(), message()
    b = MessageRecord(**{**b.__dict__, "id": "fedcba9876543210", "delivered_at": 5.0})
    assert put_back(f"[sm {a.id} from operator] hello", [a, b], pasted=False) is a
    assert put_back("[sm fedcba98", [a, b], pasted=False) is b  # a long one, cut off
    assert put_back("[Pasted text #1 +12 lines]", [a, b], pasted=True) is b
    assert put_back("a human typing", [a, b], pasted=False) is None
    assert put_back("[sm 0000 from x] not ours", [a, b], pasted=False) is None


def test_an_urgent_message_reclaims_a_prompt_the_interrupt_put_back(tmp_path: Path) -> None:
    async def check(rig: Rig) -> None:
        first = await rig.send("long task")
        await rig.until(lambda: _async(("paste", render(first)) in rig.sent()))
        await rig.hook("UserPromptSubmit", prompt=render(first), session_id="conv-1")
        rig.show(BUSY_SCREEN)
        await rig.until(lambda: _async_state(rig, first, MessageState.DELIVERED))
        urgent = await rig.send("stop and do this", M.URGENT)
        await rig.until(lambda: _async(("keys", "Escape") in rig.sent()))
        # like Claude Code before any output: the prompt comes back into the composer
        rig.show(f"out\n❯ {render(first)}\n")
        await rig.until(lambda: _async(("keys", "C-u") in rig.sent()))
        back = await rig.state_of(first)
        assert back.state == MessageState.QUEUED and back.receipt_seq is None
        assert "put back into the composer" in (back.reason or "")
        rig.show(IDLE_SCREEN)
        await rig.until(lambda: _async(("paste", render(urgent)) in rig.sent()))
        assert rig.sent().count(("paste", render(first))) == 1  # typed again only later

    with_rig(check, tmp_path)


def test_a_dead_pane_is_recorded_only_once_tmux_knows_its_exit_status(tmp_path: Path) -> None:
    """tmux marks a pane dead when its terminal closes and learns the exit status when it
    reaps the process: a look in between must not record the crash as a clean exit."""
    from sm.core.activity import ActivityWatch

    async def test(rig: Rig) -> None:
        pane = rig.runtime.pane_of(rig.target.tmux_session)
        watch = ActivityWatch(rig.sessions, quiet_after=60)
        await watch.tick()
        await watch.tick()
        await watch.tick()  # a reap sees it alive
        pane.dead, pane.dead_status = True, None
        for _ in range(3):  # the next reap: dead, status not known yet, not recorded
            await watch.tick()
        assert (await rig.sessions.get(rig.target.id)).is_live
        pane.dead_status = 3
        await watch.tick()  # a status is owed: the next tick looks again
        rec = await rig.sessions.get(rig.target.id)
        assert (rec.state, rec.exit_status) == (SessionState.ERROR, 3)

    with_rig(test, tmp_path)
