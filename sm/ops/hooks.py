"""Hook facts: what agents report (their hooks) and what tmux reports (a pane died)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sm.core.caller import Caller
from sm.core.guard import WriteGuard
from sm.core.sessions import Sessions
from sm.errors import InvalidInput, Refused

PANE_DIED = "pane-died"
MAX_EVENT = 64  # characters in a hook event name


class HookOps:
    def __init__(self, sessions: Sessions, guard: WriteGuard | None) -> None:
        self.sessions = sessions
        self.guard = guard

    async def record(self, caller: Caller, event: str, record: Mapping[str, Any]
                     ) -> dict[str, Any]:
        """Apply one hook fact, once (by its id). Returns what the agent's hook prints
        (a PreToolUse decision), or ``{}``. An agent's hook needs the session's own
        identity; ``pane-died`` comes from sm's tmux server and is checked against it."""
        if not event or len(event) > MAX_EVENT or not event.replace("-", "").isalnum():
            raise InvalidInput(f"bad hook event name {event[:MAX_EVENT]!r}")
        payload = record.get("payload") or {}
        if not isinstance(payload, dict):
            payload = {"value": payload}
        if event == PANE_DIED:
            await self.sessions.pane_died(str(payload.get("session", "")))
            return {}
        if caller.session is None:
            raise Refused(f"hook {event} needs a session: run it under the agent's pane, or "
                          "with its token")
        applied = await self.sessions.record_hook(caller.session, event, payload,
                                                  str(record.get("id", ""))[:100])
        if not applied or event != "PreToolUse" or self.guard is None:
            return {}
        output = await self.guard(await self.sessions.get(caller.session.id), payload)
        return {"output": output} if output else {}
