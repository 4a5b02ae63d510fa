"""The agent state machine, row by row."""

from __future__ import annotations

import pytest

from sm.core.state import Signal, transition
from sm.vocab import DEAD, LIVE, SessionState

S = SessionState
HOOKS = ("SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
         "Notification", "PreCompact", "SessionEnd", "PermissionRequest",
         "agent-turn-complete", "Interrupt", "StopFailure", "PostToolUseFailure")


@pytest.mark.parametrize(("state", "kind", "detail", "expected"), [
    # the agent comes up
    (S.STARTING, "SessionStart", "", S.IDLE),
    (S.IDLE, "SessionStart", "clear", None),
    (S.RUNNING, "SessionStart", "", S.IDLE),
    # a turn
    (S.IDLE, "UserPromptSubmit", "", S.RUNNING),
    (S.STARTING, "UserPromptSubmit", "", S.RUNNING),
    (S.RUNNING, "UserPromptSubmit", "", None),
    (S.WAITING_PERMISSION, "UserPromptSubmit", "", S.RUNNING),
    (S.RUNNING, "Stop", "", S.IDLE),
    (S.IDLE, "Stop", "", None),
    (S.STARTING, "Stop", "", S.IDLE),
    (S.RUNNING, "agent-turn-complete", "", S.IDLE),
    (S.RUNNING, "interrupted", "", S.IDLE),
    (S.WAITING_PERMISSION, "interrupted", "", S.IDLE),
    # Codex: Escape mid-turn or on an approval dialog ends the turn with Interrupt, no Stop
    (S.RUNNING, "Interrupt", "", S.IDLE),
    (S.WAITING_PERMISSION, "Interrupt", "", S.IDLE),
    (S.IDLE, "Interrupt", "", None),
    # Codex: notify for its own title thread, or right after the turn's Stop
    (S.RUNNING, "agent-turn-complete", "other thread", None),
    (S.IDLE, "agent-turn-complete", "turn already ended", None),
    (S.RUNNING, "agent-turn-complete", "turn already ended", None),
    # Claude Code: an API error ends the turn
    (S.RUNNING, "StopFailure", "", S.IDLE),
    # the screen shows a composer: readiness for agents whose SessionStart is lazy (Codex)
    (S.STARTING, "ready", "", S.IDLE),
    (S.IDLE, "ready", "", None),
    (S.RUNNING, "ready", "", None),
    (S.WAITING_PERMISSION, "ready", "", None),
    # tools keep (or put) a turn running, but do not start an agent
    (S.IDLE, "PreToolUse", "", S.RUNNING),
    (S.RUNNING, "PreToolUse", "", None),
    (S.RUNNING, "PostToolUse", "", None),
    (S.WAITING_PERMISSION, "PostToolUseFailure", "", S.RUNNING),
    (S.STARTING, "PreToolUse", "", None),
    (S.STARTING, "PostToolUse", "", None),
    # permission
    (S.RUNNING, "Notification", "permission_prompt", S.WAITING_PERMISSION),
    (S.IDLE, "Notification", "permission_prompt", S.WAITING_PERMISSION),
    (S.RUNNING, "PermissionRequest", "", S.WAITING_PERMISSION),
    (S.WAITING_PERMISSION, "Notification", "permission_prompt", None),
    (S.WAITING_PERMISSION, "PostToolUse", "", S.RUNNING),
    (S.WAITING_PERMISSION, "PreToolUse", "", S.RUNNING),
    (S.WAITING_PERMISSION, "Stop", "", S.IDLE),
    (S.RUNNING, "Notification", "idle_prompt", None),
    (S.IDLE, "Notification", "", None),
    (S.RUNNING, "PreCompact", "", None),
    # the conversation is cleared, or the agent ends
    (S.IDLE, "SessionEnd", "clear", None),
    (S.RUNNING, "SessionEnd", "clear", None),
    (S.IDLE, "SessionEnd", "other", S.EXITED),
    (S.RUNNING, "SessionEnd", "logout", S.EXITED),
    (S.IDLE, "SessionEnd", "", S.EXITED),
    # tmux: the pane's process exited
    (S.IDLE, "pane-died", "0", S.EXITED),
    (S.IDLE, "pane-died", "", S.EXITED),
    (S.RUNNING, "pane-died", "3", S.ERROR),
    (S.STARTING, "pane-died", "1", S.ERROR),
    (S.WAITING_PERMISSION, "pane-died", "137", S.ERROR),
    # tmux: output quiescence for hook-less agents
    (S.RUNNING, "quiet", "", S.IDLE),
    (S.STARTING, "quiet", "", S.IDLE),
    (S.IDLE, "quiet", "", None),
    (S.IDLE, "active", "", S.RUNNING),
    (S.STARTING, "active", "", S.RUNNING),
    (S.RUNNING, "active", "", None),
    (S.WAITING_PERMISSION, "active", "", None),
    # signals nobody knows change nothing
    (S.IDLE, "SomethingNew", "", None),
    (S.RUNNING, "", "", None),
])
def test_transition(
    state: SessionState, kind: str, detail: str, expected: SessionState | None
) -> None:
    assert transition(state, Signal(kind, detail)) == expected


@pytest.mark.parametrize("state", sorted(DEAD))
@pytest.mark.parametrize("kind", [*HOOKS, "pane-died", "quiet", "active", "interrupted",
                                  "ready"])
def test_dead_sessions_ignore_hooks_and_tmux(state: SessionState, kind: str) -> None:
    for detail in ("", "0", "3", "permission_prompt", "clear", "other"):
        assert transition(state, Signal(kind, detail)) is None


@pytest.mark.parametrize("state", list(SessionState))
def test_restore_only_from_dead(state: SessionState) -> None:
    expected = S.STARTING if state in DEAD else None
    assert transition(state, Signal("restore")) == expected


@pytest.mark.parametrize("state", list(SessionState))
def test_kill_from_anywhere(state: SessionState) -> None:
    expected = None if state == S.STOPPED else S.STOPPED
    assert transition(state, Signal("kill")) == expected


def test_live_and_dead_partition_the_states() -> None:
    assert {S.EXITED, S.ERROR, S.STOPPED} == DEAD
    assert set(SessionState) == LIVE | DEAD and not LIVE & DEAD
    assert [s.is_live for s in SessionState] == [s in LIVE for s in SessionState]
    assert S("waiting_permission") is S.WAITING_PERMISSION


def test_a_transition_never_returns_the_same_state() -> None:
    kinds = [*HOOKS, "pane-died", "quiet", "active", "interrupted", "ready", "restore", "kill"]
    for state in SessionState:
        for kind in kinds:
            for detail in ("", "0", "1", "permission_prompt", "clear"):
                assert transition(state, Signal(kind, detail)) != state


def test_signal_is_a_frozen_value() -> None:
    sig = Signal("Stop")
    assert sig == Signal("Stop", "")
    with pytest.raises(AttributeError):
        sig.kind = "other"  # type: ignore[misc]


# -- turns: owed prompts, tools in flight, interrupts -------------------------------------
from sm.core.state import Turns, step  # noqa: E402


def run(*kinds: str, state: SessionState = S.IDLE) -> list[tuple[str, bool, bool]]:
    """Apply hook kinds ("Kind" or "Kind:detail") in order: (state, owed, ended) after each."""
    turns = Turns()
    out = []
    for k in kinds:
        kind, _, detail = k.partition(":")
        nxt = step(state, turns, Signal(kind, detail))
        state, turns = nxt.state, nxt.turns
        out.append((state.value, turns.owed, nxt.turn_ended))
    return out


def test_a_prompt_taken_while_streaming_is_owed_its_own_turn() -> None:
    got = run("UserPromptSubmit", "UserPromptSubmit", "Stop", "Stop")
    assert got == [("running", False, False), ("running", True, False),
                   ("running", False, True),  # the first turn ended; the owed one runs
                   ("idle", False, True)]


def test_a_prompt_taken_during_a_tool_call_rides_along() -> None:
    got = run("UserPromptSubmit", "PreToolUse", "UserPromptSubmit", "PostToolUse", "Stop")
    assert got[-1] == ("idle", False, True) and not any(owed for _, owed, _ in got)


def test_codex_folds_every_mid_turn_prompt_into_the_turn() -> None:
    assert run("UserPromptSubmit", "UserPromptSubmit:joins", "Stop")[-1] == ("idle", False, True)


def test_two_prompts_queued_in_one_turn_are_one_owed_turn() -> None:
    got = run("UserPromptSubmit", "UserPromptSubmit", "UserPromptSubmit", "Stop", "Stop")
    assert got[-2:] == [("running", False, True), ("idle", False, True)]


def test_an_interrupt_ends_the_turn_and_an_owed_prompt_runs_at_once() -> None:
    assert run("UserPromptSubmit", "interrupted")[-1] == ("idle", False, True)
    got = run("UserPromptSubmit", "UserPromptSubmit", "interrupted", "Stop")
    assert got[-2:] == [("running", False, True), ("idle", False, True)]


def test_failures_and_other_threads_end_nothing_they_should_not() -> None:
    # an API failure ends the turn; the owed prompt does not run on its own then
    assert run("UserPromptSubmit", "UserPromptSubmit", "StopFailure:rate_limit")[-1] == \
        ("idle", False, True)
    assert run("UserPromptSubmit", "Stop:another conversation")[-1] == ("running", False, False)
    # the screen shows a turn no hook announced, and its end
    assert run("busy", "interrupted") == [("running", False, False), ("idle", False, True)]
    assert run("PermissionRequest", "PostToolUse", "Stop", state=S.RUNNING)[-1] == \
        ("idle", False, True)
