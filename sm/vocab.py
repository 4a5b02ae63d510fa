"""sm's vocabulary: the states, modes and event kinds every layer speaks.

One definition each, used by core, the store (and its SQL), the HTTP edge and the
CLI. Stdlib only: the client and the hook entry point may import it.

    SessionState   starting → idle ⇄ running → waiting_permission … → exited | error | stopped
    MessageState   queued → delivering → delivered | failed | expired | cancelled
    DeliveryMode   sequential | important | urgent
    MessageKind    text | clear (the provider's clear command) | raw (typed as given)
    JobState       queued → running → checking → succeeded | failed | cancelled
                   (analyzing: a failed job's diagnosis turn before its retry)
    EventKind      every ``kind`` the event log holds
    StreamKind     the event stream's own frames (snapshot, resync), never in the log
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar


class SessionState(StrEnum):
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


DEAD = frozenset({SessionState.EXITED, SessionState.ERROR, SessionState.STOPPED})
LIVE = frozenset(SessionState) - DEAD


def is_live(state: str) -> bool:
    """Whether a session in ``state`` has a running agent (the one definition)."""
    return state not in DEAD


class MessageState(StrEnum):
    QUEUED = "queued"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    EXPIRED = "expired"  # its ``expires_at`` passed before it could be delivered
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in OPEN


OPEN = frozenset({MessageState.QUEUED, MessageState.DELIVERING})
ENDED = frozenset(MessageState) - OPEN


class DeliveryMode(StrEnum):
    SEQUENTIAL = "sequential"
    IMPORTANT = "important"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Delivery order: urgent first, then important, then sequential."""
        return _RANK[self]


_RANK = {DeliveryMode.URGENT: 0, DeliveryMode.IMPORTANT: 1, DeliveryMode.SEQUENTIAL: 2}


class MessageKind(StrEnum):
    TEXT = "text"
    CLEAR = "clear"
    RAW = "raw"


class JobState(StrEnum):
    QUEUED = "queued"  # waiting for its dependencies, its start time, capacity or a backoff
    RUNNING = "running"  # an agent works on it
    CHECKING = "checking"  # the agent's turn ended: completion checks (and its PR) run
    ANALYZING = "analyzing"  # it failed; an agent diagnoses why before the retry
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in JOB_FINAL


JOB_FINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
JOB_ACTIVE = frozenset({JobState.RUNNING, JobState.CHECKING, JobState.ANALYZING})


class EventKind(StrEnum):
    """Every kind of row in the event log. A new kind is added here first."""

    SPAWNED = "spawned"
    LAUNCHED = "launched"  # an agent's process was started (a spawn, held or not; a restore)
    STATE = "state"
    HOOK = "hook"
    RENAMED = "renamed"
    FORGOTTEN = "forgotten"  # a dead session left out of lists (sm forget, sm prune)
    MESSAGE = "message"
    STATUS = "status"
    TASK_COMPLETE = "task_complete"
    TURN_COMPLETE = "turn_complete"
    DISPATCHED = "dispatched"
    ORCHESTRATOR = "orchestrator"
    CLEARED = "cleared"
    REMINDER = "reminder"
    WATCHER = "watcher"
    LOCK = "lock"
    PR = "pr"
    WORKTREE = "worktree"
    ASK = "ask"
    CONTEXT = "context"  # a session's context window filled past usage.context_threshold
    USAGE = "usage"  # a session's usage was read: its cost so far and its context now
    BUDGET = "budget"  # a budget warned, was exceeded, or was set, raised or removed
    INBOX = "inbox"  # a note to the operator's inbox: written, or read
    HEALTH = "health"  # a failure (its class: rate_limit, crash, …) or a stall
    NOTE = "note"
    KB = "kb"
    JOB = "job"


class StreamKind(StrEnum):
    """Frames of the event stream that are not rows of the event log."""

    SNAPSHOT = "snapshot"  # the current picture, sent first on subscribe
    RESYNC = "resync"  # the reader fell behind: these seqs follow again from the store
    KEEPALIVE = "keepalive"  # nothing happened for a while (WebSocket readers only)


E = TypeVar("E", bound=StrEnum)


def choices(enum: type[StrEnum]) -> str:
    """``a, b, c``: the values of ``enum``, for error messages."""
    return ", ".join(member.value for member in enum)


def parse(enum: type[E], value: str, what: str) -> E:
    """``value`` as a member of ``enum``. Raises InvalidInput naming ``what`` and the
    valid values."""
    from sm.errors import InvalidInput

    try:
        return enum(value)
    except ValueError:
        raise InvalidInput(f"unknown {what} {value!r}; expected one of: "
                           f"{choices(enum)}") from None
