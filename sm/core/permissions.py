"""Answer an agent's permission dialog by pressing its own allow/deny key.

A minimal operation, after the approach of ``sm/telegram/approvals.py`` (the same keys,
the same rule: a key is pressed only while the session shows the prompt, never into a
composer). The web dashboard and ``sm watch`` call it; the Telegram approvals keep
their own row-backed flow. It belongs in the operations layer once that has an
approve/deny operation.
"""

from __future__ import annotations

from typing import Any

from sm.core.sessions import Sessions
from sm.errors import Conflict
from sm.vocab import SessionState

# the agent's own answer keys: (allow once, allow always), deny
_ALLOW_KEYS = {"codex": ("y", "a")}
_DENY_KEYS = {"codex": "n"}
_DEFAULT_ALLOW = ("1", "2")  # Claude Code and the scripted agent
_DEFAULT_DENY = "3"


async def answer_permission(
    sessions: Sessions, ref: str, allow: bool, always: bool = False,
) -> dict[str, Any]:
    """Press the allow (or always-allow) or deny key of the session's permission
    dialog. Raises NotFound for an unknown session and Conflict unless it waits on a
    permission prompt right now. One tmux round trip."""
    rec = await sessions.resolve(ref)
    if rec.state != SessionState.WAITING_PERMISSION:
        raise Conflict(f"session {rec.label} is {rec.state}, not waiting on a permission "
                       "prompt")
    if allow:
        key = _ALLOW_KEYS.get(rec.provider, _DEFAULT_ALLOW)[1 if always else 0]
    else:
        key = _DENY_KEYS.get(rec.provider, _DEFAULT_DENY)
    await sessions.tmux.send_keys(rec.tmux_session, key)
    answer = ("always" if always else "allow") if allow else "deny"
    return {"session": rec.id, "answer": answer}
