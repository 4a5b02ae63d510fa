"""The agent state machine: a pure function from (state, signal) to the next state.

    starting → idle ⇄ running → (waiting_permission ⇄ running) … → exited | error | stopped

Signals, strongest first: the agent's own hooks, then tmux (a pane died, output went
quiet or moved), then sm's own commands (kill, restore). Every transition the daemon
applies is written as a ``state`` event naming the signal that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sm.vocab import DEAD, SessionState

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


def transition(state: SessionState, signal: Signal) -> SessionState | None:
    """The state ``signal`` moves ``state`` to, or None when it changes nothing."""
    new = _target(state, signal)
    return None if new is None or new == state else new


def _target(state: SessionState, signal: Signal) -> SessionState | None:
    kind, detail = signal.kind, signal.detail
    if kind == "restore":
        return SessionState.STARTING if state in DEAD else None
    if kind == "kill":
        return SessionState.STOPPED
    if state in DEAD:
        return None  # only restore or kill move a dead session
    if kind == "pane-died":
        return SessionState.EXITED if detail in ("", "0") else SessionState.ERROR
    if kind == "SessionEnd":
        return None if detail == "clear" else SessionState.EXITED
    if kind == "agent-turn-complete" and detail:
        return None  # Codex's notify for another thread (its title), or a turn already ended
    if kind in TURN_ENDS or kind in ("SessionStart", "quiet", "interrupted"):
        return SessionState.IDLE
    if kind == "ready":
        return SessionState.IDLE if state == SessionState.STARTING else None
    if kind == "UserPromptSubmit":
        return SessionState.RUNNING
    if kind in ("PreToolUse", "PostToolUse", "PostToolUseFailure"):
        return SessionState.RUNNING if state != SessionState.STARTING else None
    if kind == "active":
        return SessionState.RUNNING if state in (SessionState.IDLE, SessionState.STARTING) else None
    if kind == "PermissionRequest" or (
        kind == "Notification" and detail == "permission_prompt"
    ):
        return SessionState.WAITING_PERMISSION
    return None
