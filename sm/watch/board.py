"""What ``sm watch`` shows, as plain data: the board the stream's frames build, and the
rows, cells and lines drawn from it. No terminal, no Textual: unit-tested as is. Costs,
contexts and holds read as ``sm list`` writes them (``sm.cli.views``, the stdlib
formatters ``sm watch``'s command shares)."""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from sm.cli.views import context_text, cost_text, held_text

STATE_STYLE = {
    "running": "bold green", "waiting_permission": "bold black on dark_orange",
    "idle": "cyan", "starting": "magenta", "exited": "dim", "stopped": "dim",
    "error": "bold red",
}
STATE_WORD = {"waiting_permission": "WAITING", "running": "running", "idle": "idle",
              "starting": "starting", "exited": "exited", "stopped": "stopped", "error": "error"}
DEAD = ("exited", "error", "stopped")
COLUMNS = ("NAME", "PROVIDER", "STATE", "COST", "STATUS / LAST", "AGE", "Q", "LK")


@dataclass
class Board:
    """Sessions, queue depths, locks and open questions, kept current by ``apply``."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    queues: dict[str, int] = field(default_factory=dict)
    locks: list[dict[str, Any]] = field(default_factory=list)
    asks: list[dict[str, Any]] = field(default_factory=list)
    tools: dict[str, str] = field(default_factory=dict)  # session id → current tool
    feed: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))
    seq: int = 0

    def apply(self, frame: dict[str, Any]) -> set[str]:
        """Fold one stream frame in. Returns what changed: session ids, and "*" when
        the whole picture did (a snapshot) or "?" when rows need a fresh read (an event
        that does not carry the whole row: spawn, rename, status, queue, locks)."""
        kind = frame.get("kind")
        if kind == "keepalive" or kind == "resync":
            return set()
        if kind == "snapshot":
            self.load(frame["payload"])
            self.seq = frame["seq"]
            return {"*"}
        self.seq = max(self.seq, frame.get("seq") or 0)
        self.feed.appendleft(frame)
        sid = frame.get("session_id") or ""
        payload = frame.get("payload") or {}
        rec = self.sessions.get(sid)
        changed = {sid}
        if kind == "state" and rec is not None:
            rec["state"] = payload.get("to", rec["state"])
            rec["updated_at"] = frame.get("ts", rec.get("updated_at"))
            if rec["state"] in DEAD:
                self.tools.pop(sid, None)
        elif kind == "usage" and rec is not None:
            for key in ("cost_micros", "unpriced_models", "context"):
                rec[key] = payload.get(key)
        elif kind == "hook" and rec is not None:
            data = payload.get("data") or {}
            event = payload.get("event")
            if event == "PreToolUse":
                self.tools[sid] = str(data.get("tool_name") or "tool")
            elif event in ("PostToolUse", "Stop", "SessionEnd"):
                self.tools.pop(sid, None)
            if event == "Stop" and data.get("last_assistant_message"):
                rec["last_message"] = data["last_assistant_message"]
        if rec is None or kind in ("spawned", "launched", "renamed", "status", "message",
                                   "lock", "ask", "dispatched", "cleared", "task_complete"):
            changed.add("?")
        return changed

    def load(self, payload: dict[str, Any]) -> None:
        self.sessions = {s["id"]: s for s in payload.get("sessions", [])}
        self.queues = dict(payload.get("queues") or {})
        self.locks = list(payload.get("locks") or [])
        self.asks = list(payload.get("asks") or [])

    def label(self, session_id: str | None) -> str:
        rec = self.sessions.get(session_id or "")
        return (rec.get("name") or rec["id"]) if rec else (session_id or "-")

    def locks_of(self, session_id: str) -> int:
        return sum(1 for lease in self.locks if lease.get("session_id") == session_id)

    def asks_of(self, session_id: str) -> list[dict[str, Any]]:
        return [a for a in self.asks if a.get("session_id") == session_id]


def tree(sessions: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Sessions in tree order (each parent before its children, siblings by creation),
    with their depth. A child whose parent is not listed is a root."""
    ids = {s["id"] for s in sessions}
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for s in sorted(sessions, key=lambda s: s.get("created_at") or 0):
        parent = s.get("parent_id") if s.get("parent_id") in ids else None
        kids.setdefault(parent, []).append(s)
    out: list[tuple[dict[str, Any], int]] = []
    stack = [(s, 0) for s in reversed(kids.get(None, []))]
    while stack:
        s, depth = stack.pop()
        out.append((s, depth))
        stack.extend((c, depth + 1) for c in reversed(kids.get(s["id"], [])))
    return out


def visible(
    board: Board, text: str = "", live_only: bool = False,
) -> list[tuple[dict[str, Any], int]]:
    """The rows to show: tree order, filtered by ``text`` (name, id, provider, role,
    state, status) and by liveness."""
    needle = text.lower().strip()
    rows = []
    for s, depth in tree(list(board.sessions.values())):
        if live_only and s["state"] in DEAD:
            continue
        hay = " ".join(str(s.get(k) or "") for k in ("name", "id", "provider", "role", "state",
                                                       "status_text"))
        if needle and needle not in hay.lower():
            continue
        rows.append((s, depth))
    return rows


def ago(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return ""
    secs = max(0, int((now if now is not None else time.time()) - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def spent(s: dict[str, Any]) -> str:
    """``$0.42 · ctx 63%``: the session's cost so far and its context window's use, as
    last read ("" for neither; ``+?``: some models have no price; ``ctx 120k``: tokens,
    the window unknown)."""
    cost = cost_text(s.get("cost_micros"), s.get("unpriced_models"))
    ctx = context_text(s.get("context"))
    return " · ".join(part for part in (cost, f"ctx {ctx}" if ctx else "") if part)


def activity(board: Board, s: dict[str, Any]) -> str:
    """The row's one line: why its launch waits, else the tool in use, else the status
    line, else the last message."""
    held = held_text(s)
    if held:
        return held
    tool = board.tools.get(s["id"])
    if tool:
        return f"⚙ {tool}"
    for key in ("status_text", "last_message"):
        value = (s.get(key) or "").strip()
        if value:
            return value.splitlines()[0]
    return ""


def cells(
    board: Board, s: dict[str, Any], depth: int, now: float | None = None, width: int = 80,
) -> list[Text]:
    """The row for one session, one ``Text`` per column of ``COLUMNS``, the name and
    activity cut to fit a screen ``width`` columns wide."""
    room = max(12, width - 66)
    name = ("  " * (depth - 1) + "└ " if depth else "") + (s.get("name") or s["id"])
    if s.get("role"):
        name += f" ({s['role']})"
    state = s["state"]
    queue = board.queues.get(s["id"], 0)
    locks = board.locks_of(s["id"])
    return [
        Text(_cut(name, 12 + max(0, room - 30) // 3)),
        Text(s["provider"][:8], style="dim"),
        Text(STATE_WORD.get(state, state), style=STATE_STYLE.get(state, "")),
        Text(spent(s), style="yellow" if s.get("unpriced_models") else ""),
        Text(_cut(activity(board, s), room)),
        Text(ago(s.get("created_at"), now), style="dim"),
        Text(str(queue) if queue else "", style="yellow"),
        Text(str(locks) if locks else ""),
    ]


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def feed_line(board: Board, e: dict[str, Any]) -> Text:
    """One line of the event feed."""
    when = time.strftime("%H:%M:%S", time.localtime(e.get("ts") or 0))
    p = e.get("payload") or {}
    kind = e.get("kind", "")
    if kind == "state":
        detail = f"{p.get('from')} → {p.get('to')}"
        style = STATE_STYLE.get(str(p.get("to")), "")
    elif kind == "hook":
        data = p.get("data") or {}
        detail = str(p.get("event")) + (f" {data['tool_name']}" if data.get("tool_name") else "")
        style = "dim"
    elif kind == "message":
        reason = f" — {p['reason']}" if p.get("reason") else ""
        detail = f"{p.get('id')} {p.get('state')}{reason}"
        style = "yellow"
    elif kind == "usage":
        detail = spent(p) or "nothing priced"
        style = "dim"
    else:
        detail = json.dumps(p)[:100]
        style = ""
    line = Text(f"{when} ", style="dim")
    line.append(f"{board.label(e.get('session_id')):<12.12} ", style="bold")
    line.append(f"{kind:<8} ", style="dim")
    line.append(detail, style=style)
    line.no_wrap = True
    line.overflow = "ellipsis"
    return line


def pane_title(board: Board, session_id: str | None) -> str:
    if not session_id or session_id not in board.sessions:
        return "no session selected"
    s = board.sessions[session_id]
    asks = board.asks_of(session_id)
    extra = f" · {spent(s)}" if spent(s) else ""
    extra += f" · {len(asks)} question(s)" if asks else ""
    return f"{board.label(session_id)} · {s['provider']} · {s['state']}{extra}"
