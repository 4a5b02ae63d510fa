"""The agent state machine: a pure function from (state, turns, signal) to the next.

    starting → idle ⇄ running → (waiting_permission ⇄ running) … → exited | error | stopped

It models turns as the agents run them, not only as their hooks report them:

- a prompt taken while a turn runs is **owed a turn** of its own when nothing is waiting
  on a tool: the turn that follows the Stop (with no UserPromptSubmit of its own) is that
  owed turn, ``running`` until its own Stop. A prompt taken while a tool runs rides along
  with the tool's result in the same turn (Claude Code); Codex folds every mid-turn
  prompt into the running turn (its provider says so: the signal's detail ``joins``);
- an interrupt ends a turn with no hook at all: the screen says so (``interrupted``:
  the composer back, nothing running), and an owed prompt then runs at once;
- the screen also says when a turn runs that no hook announced (``busy``).

Signals, strongest first: the agent's own hooks, then what its screen shows, then tmux
(a pane died, output went quiet or moved), then sm's own commands (kill, restore).
Every transition the daemon applies is written as a ``state`` event naming the signal
that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sm.vocab import DEAD, SessionState

S = SessionState
# hooks that end a turn: Claude Code's Stop (StopFailure: an API error ended it), Codex's
# Stop, notify (agent-turn-complete) and Interrupt (Escape, or a refused approval)
TURN_ENDS = frozenset({"Stop", "StopFailure", "agent-turn-complete", "Interrupt"})
# turn ends after which an owed prompt runs as its own turn
_OWED_RUNS_AFTER = frozenset({"Stop", "agent-turn-complete", "interrupted", "Interrupt"})
_ACTIVE = frozenset({S.RUNNING, S.WAITING_PERMISSION})
TOOL_ENDS = frozenset({"PostToolUse", "PostToolUseFailure", "PermissionDenied"})


@dataclass(frozen=True)
class Signal:
    """What happened: a hook event name (``Stop``), what the screen shows (``ready``: a
    composer to type in; ``interrupted``: the prompt back with nothing running;
    ``busy``: a turn running), a tmux fact (``pane-died``, ``quiet``, ``active``) or a
    command (``kill``, ``restore``), with its detail (a notification type, a SessionEnd
    reason, an exit status, a failure class, why a hook is ignored, ``joins`` for a
    mid-turn prompt the agent answers inside the running turn)."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class Turns:
    """What the session's row holds about its turns, beside its state."""

    owed: bool = False  # a prompt taken mid-turn waits for a turn of its own
    tool: bool = False  # a tool call is in flight


@dataclass(frozen=True)
class Step:
    state: SessionState
    turns: Turns
    turn_ended: bool = False  # the running turn ended (an owed one may have begun)

    def changes(self, state: SessionState, turns: Turns) -> bool:
        return self.state != state or self.turns != turns or self.turn_ended


def step(state: SessionState, turns: Turns, signal: Signal) -> Step:
    """Where ``signal`` takes a session in ``state`` with ``turns``."""
    kind, detail = signal.kind, signal.detail
    same = Step(state, turns)
    active = state in _ACTIVE
    if kind == "restore":
        return Step(S.STARTING, Turns()) if state in DEAD else same
    if kind == "kill":
        return Step(S.STOPPED, Turns(), active)
    if state in DEAD:
        return same  # only restore or kill move a dead session
    if kind == "pane-died":
        return Step(S.EXITED if detail in ("", "0") else S.ERROR, Turns(), active)
    if kind == "SessionEnd":
        return same if detail == "clear" else Step(S.EXITED, Turns(), active)
    if kind in TURN_ENDS and detail in ("other thread", "turn already ended",
                                        "another conversation"):
        return same  # about another thread or conversation, or a turn already ended
    if kind in TURN_ENDS or kind in ("quiet", "interrupted"):
        if active:
            if turns.owed and kind in _OWED_RUNS_AFTER:
                return Step(S.RUNNING, Turns(), True)  # the owed prompt runs now
            return Step(S.IDLE, Turns(), True)
        return Step(S.IDLE, turns) if state == S.STARTING else same
    if kind == "SessionStart":
        return Step(S.IDLE, Turns(), active)
    if kind == "ready":
        return Step(S.IDLE, turns) if state == S.STARTING else same
    if kind == "UserPromptSubmit":
        if not active:
            return Step(S.RUNNING, Turns())
        if detail == "joins" or turns.tool:
            return Step(S.RUNNING, turns)  # answered inside the running turn
        return Step(S.RUNNING, Turns(owed=True, tool=turns.tool))
    if kind == "PreToolUse":
        return same if state == S.STARTING else Step(S.RUNNING, Turns(turns.owed, True))
    if kind in TOOL_ENDS:
        return same if state == S.STARTING else Step(S.RUNNING, Turns(turns.owed, False))
    if kind in ("active", "busy"):
        return Step(S.RUNNING, turns) if state in (S.IDLE, S.STARTING) else same
    if kind == "PermissionRequest" or (kind == "Notification" and detail == "permission_prompt"):
        return Step(S.WAITING_PERMISSION, turns)
    return same


def transition(state: SessionState, signal: Signal) -> SessionState | None:
    """The state ``signal`` moves ``state`` to with no turn owed and no tool running, or
    None when it changes nothing (the state alone, for callers that keep no turns)."""
    new = step(state, Turns(), signal).state
    return None if new == state else new
