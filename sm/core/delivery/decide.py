"""What to do next with a target's next message: a pure function of what is known.

The worker gathers the facts (the session's state, the message, and — only when the
answer depends on it — what the agent's screen shows) and carries out the step this
function chooses. Every rule about *when* sm may type lives here, and is unit-tested
without tmux.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sm.agents.base import Screen
from sm.store.messages import MessageRecord
from sm.vocab import DeliveryMode, MessageKind, MessageState, SessionState

POLL = 0.5  # seconds between looks while the screen is what holds a message back
DRAWING = 0.1  # a composer still being drawn comes back quickly


class Action(StrEnum):
    FAIL = "fail"  # the message cannot be delivered: fail it with ``reason``
    EXPIRE = "expire"  # its deadline passed while it waited
    HOLD = "hold"  # not now: note ``reason``, look again after ``wait`` (None: when woken)
    SCREEN = "screen"  # the answer depends on the screen: read it and decide again
    PROMPT_BACK = "prompt_back"  # is the prompt back for good after a permission prompt?
    INTERRUPT = "interrupt"  # press the interrupt key, wait for the prompt, decide again
    RECOVER = "recover"  # a message left ``delivering`` by a daemon that died mid-way
    TYPE = "type"  # type it now


@dataclass(frozen=True)
class Step:
    action: Action
    reason: str = ""
    wait: float | None = None


def decide(
    state: SessionState,
    label: str,
    msg: MessageRecord,
    *,
    has_hooks: bool,
    now: float,
    screen: Screen | None = None,
) -> Step:
    """The next step for ``msg`` to a session in ``state``. ``screen`` is None until
    the worker has read it (this returns SCREEN when it needs it)."""
    if not state.is_live:
        return Step(Action.FAIL, f"session {label} is {state}")
    if msg.state == MessageState.DELIVERING:
        return Step(Action.RECOVER)
    if msg.expires_at is not None and now >= msg.expires_at:
        return Step(Action.EXPIRE, "its deadline passed before it could be delivered")
    if state == SessionState.STARTING:
        return Step(Action.HOLD, "waiting for the agent to start")
    if state == SessionState.WAITING_PERMISSION:
        if screen is None:
            return Step(Action.PROMPT_BACK)
        return Step(Action.HOLD, "waiting: the agent shows a permission prompt", POLL)
    if state == SessionState.RUNNING:
        if msg.mode == DeliveryMode.URGENT:
            return Step(Action.INTERRUPT, "interrupting the running turn")
        if msg.mode == DeliveryMode.SEQUENTIAL or msg.kind == MessageKind.CLEAR:
            return Step(Action.HOLD, "waiting for the agent's turn to end")
    if has_hooks:
        if screen is None:
            return Step(Action.SCREEN)
        if screen.composer is None:  # still drawing, or a dialog is in front of it
            return Step(Action.HOLD, "waiting: no composer on the agent's screen", DRAWING)
        if screen.composer:
            return Step(Action.HOLD, "waiting: text in the agent's composer", POLL)
    return Step(Action.TYPE)


def put_back(composer: str, candidates: list[MessageRecord], *, pasted: bool
             ) -> MessageRecord | None:
    """The message an interrupt put back into the agent's composer, if the composer
    shows one: its header at the start of the composer (a short message shows whole),
    or — when the agent collapsed a paste (``pasted``) — the newest of ``candidates``,
    the messages whose turn the interrupt ended before the agent answered them."""
    text = composer.lstrip()
    if text.startswith("[sm "):
        ref = text[4:].split(" ", 1)[0]
        return next((m for m in candidates if ref and m.id.startswith(ref)), None)
    if pasted and candidates:
        return max(candidates, key=lambda m: m.delivered_at or 0.0)
    return None
