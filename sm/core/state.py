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


@dataclass(frozen=True)
class Signal:
    """What happened: a hook event name (``Stop``), a tmux fact (``pane-died``,
    ``quiet``, ``active``) or a command (``kill``, ``restore``), with its detail
    (a notification type, a SessionEnd reason, an exit status)."""

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
    if kind in ("SessionStart", "Stop", "agent-turn-complete", "quiet", "interrupted"):
        return State.IDLE
    if kind == "UserPromptSubmit":
        return State.RUNNING
    if kind in ("PreToolUse", "PostToolUse"):
        return State.RUNNING if state != State.STARTING else None
    if kind == "active":
        return State.RUNNING if state in (State.IDLE, State.STARTING) else None
    if kind == "PermissionRequest" or (
        kind == "Notification" and detail == "permission_prompt"
    ):
        return State.WAITING_PERMISSION
    return None
