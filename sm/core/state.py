"""The agent state machine: a pure function from (state, signal) to the next state.

    starting → idle ⇄ running → (waiting_permission ⇄ running) … → exited | error | stopped

Signals, strongest first: the agent's own hooks, then tmux (a pane died, output went
quiet or moved), then sm's own commands (kill, restore). Every transition the daemon
applies is written as a ``state`` event naming the signal that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    RUNNING = "running"
    WAITING_PERMISSION = "waiting_permission"
    EXITED = "exited"
    ERROR = "error"
    STOPPED = "stopped"

    @property
    def is_live(self) -> bool:
        return self not in DEAD


DEAD = frozenset({State.EXITED, State.ERROR, State.STOPPED})
LIVE = frozenset(State) - DEAD
# hooks that end a turn: Claude Code's Stop (StopFailure: an API error ended it), Codex's
# Stop, notify (agent-turn-complete) and Interrupt (Escape, or a refused approval)
TURN_ENDS = frozenset({"Stop", "StopFailure", "agent-turn-complete", "Interrupt"})


@dataclass(frozen=True)
class Signal:
    """What happened: a hook event name (``Stop``), a tmux fact (``pane-died``,
    ``quiet``, ``active``), what the screen shows (``ready``: a composer to type in;
    ``interrupted``: the prompt back after the interrupt key or a refused permission)
    or a command (``kill``, ``restore``), with its detail (a notification type, a
    SessionEnd reason, an exit status, why a notify is ignored)."""

    kind: str
    detail: str = ""


def transition(state: State, signal: Signal) -> State | None:
    """The state ``signal`` moves ``state`` to, or None when it changes nothing."""
    new = _target(state, signal)
    return None if new is None or new == state else new


def _target(state: State, signal: Signal) -> State | None:
    kind, detail = signal.kind, signal.detail
    if kind == "restore":
        return State.STARTING if state in DEAD else None
    if kind == "kill":
        return State.STOPPED
    if state in DEAD:
        return None  # only restore or kill move a dead session
    if kind == "pane-died":
        return State.EXITED if detail in ("", "0") else State.ERROR
    if kind == "SessionEnd":
        return None if detail == "clear" else State.EXITED
    if kind == "agent-turn-complete" and detail:
        return None  # Codex's notify for another thread (its title), or a turn already ended
    if kind in TURN_ENDS or kind in ("SessionStart", "quiet", "interrupted"):
        return State.IDLE
    if kind == "ready":
        return State.IDLE if state == State.STARTING else None
    if kind == "UserPromptSubmit":
        return State.RUNNING
    if kind in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        return State.RUNNING if state != State.STARTING else None
    if kind == "active":
        return State.RUNNING if state in (State.IDLE, State.STARTING) else None
    if kind == "PermissionRequest" or (
        kind == "Notification" and detail == "permission_prompt"
    ):
        return State.WAITING_PERMISSION
    return None
