"""Health: how a turn or an agent failed, what a rate limit holds back, and stalls.

- **Failure classes** (``classify_stop_failure``, ``classify_exit``, ``classify_tool_error``,
  pure): ``rate_limit`` (with its reset time when the payload or its message gives one),
  ``overloaded``, ``auth``, ``context_limit``, ``crash`` (the agent exited with a
  non-zero status), ``tool_error`` (a tool call failed: recorded only) and ``other``.
- ``Health.on_fact``, a consequence of every hook fact and exit, in its transaction: a
  ``health`` event ``{check: failure, class, reset_at?, detail}``, and the session's last
  failure (its ``failure`` column; tool errors are only recorded). A turn that later ends
  well lifts a rate limit early.
- ``Health.paused``: messages to a session whose last failure is a rate limit with a
  reset time still ahead are held until then (``decide``'s hold with ``until``: the
  worker wakes at the reset by itself, nothing polls).
- ``Health.check_stalled``: a session ``running`` with no hook event and no pane output
  for ``stalled_after`` seconds gets one ``health`` event ``stalled`` per stall; new
  output or a hook ends the stall. ``ActivityWatch`` calls it from its one-second tick.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from sm.core.delivery.decide import Hold
from sm.core.events import EventBus
from sm.core.sessions import Fact
from sm.store import Conn, Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.vocab import EventKind, SessionState

RATE_LIMIT = "rate_limit"
OVERLOADED = "overloaded"
AUTH = "auth"
CONTEXT_LIMIT = "context_limit"
CRASH = "crash"
TOOL_ERROR = "tool_error"
OTHER = "other"
CLASSES = (RATE_LIMIT, OVERLOADED, AUTH, CONTEXT_LIMIT, CRASH, TOOL_ERROR, OTHER)

# Claude Code's StopFailure ``error`` values (the hook's matcher)
_BY_ERROR = {
    "rate_limit": RATE_LIMIT, "rate_limit_error": RATE_LIMIT,
    "overloaded": OVERLOADED, "overloaded_error": OVERLOADED,
    "authentication_failed": AUTH, "authentication_error": AUTH,
    "oauth_org_not_allowed": AUTH, "permission_error": AUTH,
    "context_limit": CONTEXT_LIMIT,
}
# what the error's text says, tried in this order
_BY_TEXT = (
    (CONTEXT_LIMIT, re.compile(r"prompt is too long|context (window|length|limit)|"
                               r"too many tokens|exceeds? the (model'?s )?context", re.I)),
    (RATE_LIMIT, re.compile(r"rate[ _-]?limit|usage limit|\b429\b|limit reached|"
                            r"hit your limit|too many requests|quota", re.I)),
    (OVERLOADED, re.compile(r"overloaded|\b529\b", re.I)),
    (AUTH, re.compile(r"authenticat|\b401\b|invalid (x-)?api[ -]?key|oauth|/login|"
                      r"credit balance|unauthori[sz]ed", re.I)),
)
_MAX_DETAIL = 300


@dataclass(frozen=True)
class Failure:
    """How a turn or an agent failed: its class, when a rate limit resets (epoch
    seconds, None when not said) and a line saying what happened."""

    cls: str
    detail: str = ""
    reset_at: float | None = None

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"class": self.cls, "detail": self.detail}
        if self.reset_at is not None:
            out["reset_at"] = self.reset_at
        return out


def clock_time(ts: float) -> str:
    """``14:03:07``: a moment today, in local time."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def classify_stop_failure(payload: Mapping[str, Any], now: float) -> Failure:
    """The failure a StopFailure hook reports. Claude Code sends ``error`` (its class:
    ``rate_limit``, ``authentication_failed``, ``server_error``, ``invalid_request``,
    ``max_output_tokens``, ``unknown``…; older builds an object with ``type`` and
    ``message``), ``error_details`` and ``last_assistant_message`` (``API Error: …``).
    Seen from 2.1.330: a 429 is ``rate_limit``; a 529 is ``server_error`` (told apart
    as an overload by its text); a 400 is ``unknown``; no reset time is sent."""
    error = payload.get("error")
    texts: list[str] = []
    code = ""
    if isinstance(error, Mapping):
        code = str(error.get("type") or "")
        texts.append(str(error.get("message") or ""))
    elif error is not None:
        code = str(error)
    code = code or str(payload.get("error_type") or "")
    for key in ("error_details", "error_message", "last_assistant_message", "message"):
        value = payload.get(key)
        if value:
            texts.append(value if isinstance(value, str) else str(value))
    text = " · ".join(t for t in texts if t)
    cls = _BY_ERROR.get(code.lower()) or _by_text(f"{code} {text}") or OTHER
    reset = None
    if cls == RATE_LIMIT:
        reset = _reset_given(payload, error, now) or reset_from_text(text, now)
    detail = code if code and code != "unknown" else ""
    if text:
        detail = f"{detail}: {text}" if detail else text
    return Failure(cls, _line(detail or code or "unknown"), reset)


def classify_exit(detail: str) -> Failure | None:
    """The failure an agent's exit is: ``crash`` for a non-zero status (or a reason
    given instead of one), None for a clean exit."""
    if detail in ("", "0"):
        return None
    return Failure(CRASH, _line(f"exit status {detail}" if detail.lstrip("-").isdigit()
                                else detail))


def classify_tool_error(payload: Mapping[str, Any]) -> Failure:
    """A tool call that failed (PostToolUseFailure): recorded, never a hold."""
    tool = str(payload.get("tool_name") or "a tool")
    error = payload.get("error") or payload.get("tool_response") or ""
    interrupted = " (interrupted)" if payload.get("is_interrupt") else ""
    return Failure(TOOL_ERROR, _line(f"{tool}{interrupted}: {error}" if error
                                     else f"{tool}{interrupted} failed"))


def _by_text(text: str) -> str | None:
    return next((cls for cls, pattern in _BY_TEXT if pattern.search(text)), None)


def _line(text: str) -> str:
    one = " ".join(text.split())
    return one if len(one) <= _MAX_DETAIL else one[:_MAX_DETAIL - 1] + "…"


def _reset_given(payload: Mapping[str, Any], error: object, now: float) -> float | None:
    """A reset time given as a field: ``reset_at``/``resets_at`` (epoch seconds or
    milliseconds, or ISO 8601), ``retry_after`` (seconds from now)."""
    for source in (payload, error if isinstance(error, Mapping) else {}):
        for key in ("reset_at", "resets_at", "resetsAt"):
            if source.get(key) is not None:
                found = _moment(source[key])
                if found is not None:
                    return found
        after = source.get("retry_after")
        if isinstance(after, int | float) and not isinstance(after, bool) and after >= 0:
            return now + float(after)
    return None


def _moment(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) / 1000 if value > 1e12 else float(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            return _moment(float(text))
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.timestamp()
    return None


_EPOCH = re.compile(r"\|\s*(\d{10,13})(?:\.\d+)?\b")  # "Claude AI usage limit reached|1767225600"
_ISO = re.compile(r"\b(?:resets?|until|after)(?: at)?\s+"
                  r"(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)", re.I)
_IN = re.compile(r"\b(?:retry|try again|resets?)(?: after| in)\s+(\d+(?:\.\d+)?)\s*"
                 r"(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\b", re.I)
_CLOCK = re.compile(r"\bresets?(?: at)?\s+(\d{1,2})(?::(\d\d))?(?::(\d\d))?\s*([ap]m)?"
                    r"(?:\s*\(([A-Za-z_]+/[A-Za-z_/]+|UTC)\))?", re.I)


def reset_from_text(text: str, now: float) -> float | None:
    """When a rate limit resets, from what the agent said: ``…|1767225600`` (epoch
    seconds), ``resets at 2026-01-01T15:00:00Z``, ``retry after 30 seconds``, ``try
    again in 5 minutes``, ``resets 3pm``, ``resets 15:30 (Europe/Berlin)`` (the next such
    time, in that zone or local time). None when it says none."""
    found = _EPOCH.search(text)
    if found:
        return _moment(int(found[1]))
    found = _ISO.search(text)
    if found:
        return _moment(found[1])
    found = _IN.search(text)
    if found:
        unit = found[2].lower()[0]
        return now + float(found[1]) * {"s": 1, "m": 60, "h": 3600}[unit]
    found = _CLOCK.search(text)
    if found:
        return _next_clock(found, now)
    return None


def _next_clock(found: re.Match[str], now: float) -> float | None:
    hour, minute, second = int(found[1]), int(found[2] or 0), int(found[3] or 0)
    ampm = (found[4] or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    zone = None
    if found[5]:
        try:
            from zoneinfo import ZoneInfo

            zone = ZoneInfo("UTC" if found[5].upper() == "UTC" else found[5])
        except (ValueError, KeyError, OSError):
            zone = None
    current = datetime.fromtimestamp(now, zone) if zone else datetime.fromtimestamp(now)
    moment = current.replace(hour=hour, minute=minute, second=second, microsecond=0)
    if moment.timestamp() <= now:
        moment += timedelta(days=1)
    return moment.timestamp()


# -- the service --------------------------------------------------------------------------
_TURN_DONE = frozenset({"Stop", "agent-turn-complete"})


class Health:
    def __init__(
        self, store: Store, bus: EventBus, *, stalled_after: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.stalled_after = stalled_after
        self.clock = clock
        self._stalled: dict[str, float] = {}  # session id → the activity it stalled after

    # -- failures, in the fact's transaction ---------------------------------------------
    async def on_fact(self, conn: Conn, rec: SessionRecord, fact: Fact
                      ) -> list[EventRecord | None]:
        """A consequence: record the failure a fact reports (and lift a rate limit a
        turn that ended well proves over)."""
        now = self.clock()
        kind = fact.signal.kind
        failure = None
        keep = True
        if fact.hook == "StopFailure":
            failure = classify_stop_failure(fact.data, now)
        elif fact.hook == "PostToolUseFailure":
            failure, keep = classify_tool_error(fact.data), False
        elif kind == "pane-died" and fact.step.state == SessionState.ERROR:
            failure = classify_exit(fact.signal.detail)
        elif fact.hook in _TURN_DONE and _holding(rec.failure, now):
            lifted = {**(rec.failure or {}), "lifted_at": now}
            await self.store.sessions.update(conn, rec.id, now, failure=lifted)
            return []
        if failure is None:
            return []
        if keep:
            await self.store.sessions.update(conn, rec.id, now,
                                             failure={**failure.public(), "at": now})
        return [await self.store.events.append(conn, now, rec.id, EventKind.HEALTH, {
            "check": "failure", **failure.public(), "signal": kind, "seq": fact.seq})]

    # -- the hold on deliveries -------------------------------------------------------------
    async def paused(self, rec: SessionRecord) -> Hold | None:
        """Deliveries to ``rec`` wait while its last failure is a rate limit whose reset
        is still ahead; the hold lifts by itself at the reset. No query."""
        now = self.clock()
        if not _holding(rec.failure, now):
            return None
        until = float((rec.failure or {})["reset_at"])
        return Hold(f"rate limited until {clock_time(until)}", until)

    # -- stalls (ActivityWatch's tick) -------------------------------------------------------
    async def check_stalled(self, rec: SessionRecord, output_at: float | None) -> bool:
        """Whether ``rec`` stalled just now: ``running`` with no hook and no output for
        ``stalled_after`` seconds. Writes one ``health`` event per stall."""
        if rec.state != SessionState.RUNNING:
            self._stalled.pop(rec.id, None)
            return False
        now = self.clock()
        last = max(output_at or 0.0, rec.updated_at)
        if now - last < self.stalled_after:
            self._stalled.pop(rec.id, None)
            return False
        hooks = await self.store.events.list(session_id=rec.id, kinds=(EventKind.HOOK,),
                                             limit=1, newest=True)
        if hooks:
            last = max(last, hooks[-1].ts)
        if now - last < self.stalled_after:
            self._stalled.pop(rec.id, None)
            return False
        if self._stalled.get(rec.id) == last:
            return False  # told already: this stall goes on
        self._stalled[rec.id] = last
        quiet = now - last
        async with self.store.write() as conn:
            event = await self.store.events.append(conn, now, rec.id, EventKind.HEALTH, {
                "check": "stalled", "since": last, "quiet_for": round(quiet, 1),
                "detail": f"running with no hook and no output for {_span(quiet)}"})
        await self.bus.publish([event])
        return True

    def forget(self, live: set[str]) -> None:
        for sid in [s for s in self._stalled if s not in live]:
            del self._stalled[sid]


def limit_over_at(failure: Mapping[str, Any] | None) -> float | None:
    """When the rate limit a session's last failure reports is (or was) over: its reset,
    or the turn that lifted it earlier, or — when it gave no reset — the moment it was
    hit. None when the failure is no rate limit."""
    if not failure or failure.get("class") != RATE_LIMIT:
        return None
    moment = failure.get("reset_at")
    if not _number(moment):
        moment = failure.get("at")
    lifted = failure.get("lifted_at")
    if _number(lifted) and (not _number(moment) or lifted < moment):
        moment = lifted
    return float(moment) if _number(moment) else None


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _holding(failure: Mapping[str, Any] | None, now: float) -> bool:
    if not failure or failure.get("class") != RATE_LIMIT or failure.get("lifted_at"):
        return False
    reset = failure.get("reset_at")
    return isinstance(reset, int | float) and reset > now


def _span(seconds: float) -> str:
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 7200:
        return f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


__all__ = ["CLASSES", "Failure", "Health", "classify_exit", "classify_stop_failure",
           "classify_tool_error", "clock_time", "limit_over_at", "reset_from_text"]
