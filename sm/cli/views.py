"""Pure formatters of what the human and agent commands print: sessions, one session,
messages, reminders, worktrees. Stdlib only (the fast path prints through them); every
line fits ``cols`` columns and sessions are named by name, not id.
"""

from __future__ import annotations

import textwrap
import time

from sm.cli.tables import Column, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

def names_of(sessions: list[dict[str, Any]]) -> dict[str, str]:
    return {s["id"]: s["name"] or s["id"] for s in sessions}


def ago(ts: float, now: float | None = None) -> str:
    secs = max(0, int((now or time.time()) - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def span(seconds: float) -> str:
    """``90`` → ``1m30s``."""
    hours, rest = divmod(max(0, int(round(seconds))), 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs or not out else "")


def first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def format_sessions(
    items: list[dict[str, Any]], names: dict[str, str] | None = None,
    now: float | None = None, cols: int | None = None, color: bool = False,
) -> str:
    """NAME ID PROVIDER STATE AGE PARENT LAST, one session a line."""
    names = names or names_of(items)
    columns = [
        Column("NAME", min=10, order=4, cut="middle"), Column("ID"),
        Column("PROVIDER", min=5, order=3), Column("STATE"), Column("AGE"),
        Column("PARENT", min=10, order=2, cut="middle"), Column("LAST", min=8, order=1),
    ]
    rows = [[
        s["name"] or "-", s["id"], s["provider"], s["state"], ago(s["created_at"], now),
        names.get(s.get("parent_id") or "", s.get("parent_id") or ""),
        first_line(s.get("status_text") or s.get("last_message")),
    ] for s in items]
    return table(columns, rows, cols, color)


def format_team(items: list[dict[str, Any]], cols: int | None = None) -> str:
    """NAME ID STATE ROLE STATUS: children, others, the operator's ``sm status``."""
    columns = [Column("NAME", min=10, order=3, cut="middle"), Column("ID"), Column("STATE"),
               Column("ROLE", min=4, order=2), Column("STATUS", min=8, order=1)]
    rows = [[s["name"] or "-", s["id"], s["state"], s.get("role") or "-",
             first_line(s.get("status_text"))] for s in items]
    return table(columns, rows, cols)


def format_session(
    s: dict[str, Any], names: dict[str, str] | None = None,
    worktree: dict[str, Any] | None = None, now: float | None = None, cols: int = 80,
) -> str:
    """``sm show``: one field a line, long values wrapped under their field."""
    names = names or {}
    created = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["created_at"]))
    parent = s.get("parent_id")
    rows = [
        ("name", s["name"] or "-"), ("id", s["id"]), ("provider", s["provider"]),
        ("state", s["state"]), ("role", s.get("role") or "-"),
        ("status", first_line(s.get("status_text")) or "-"), ("cwd", s["cwd"]),
    ]
    if worktree:
        rows.append(("worktree", f"{worktree['path']} (branch {worktree['branch']})"))
    rows += [
        ("parent", f"{names.get(parent, parent)} ({parent})" if parent else "-"),
        ("created", f"{created} ({ago(s['created_at'], now)} ago)"),
        ("conversation", s.get("conversation_id") or "-"), ("tmux", s["tmux_session"]),
    ]
    if s.get("exit_status") is not None:
        rows.append(("exit status", str(s["exit_status"])))
    if s.get("last_message"):
        rows.append(("last message", s["last_message"][:300]))
    indent = " " * 15
    out = []
    for key, value in rows:
        lines = textwrap.wrap(" ".join(str(value).split()), max(20, cols - len(indent)),
                              break_on_hyphens=False) or ["-"]
        out.append(f"{key:>13}: {lines[0]}")
        out += [indent + line for line in lines[1:]]
    return "\n".join(out)


def format_messages(
    items: list[dict[str, Any]], names: dict[str, str] | None = None, cols: int | None = None,
) -> str:
    """ID FROM TO [MODE] STATE BODY [REASON]: MODE when any is not sequential, REASON
    (why it failed, expired or waits) when any has one."""
    names = names or {}
    with_mode = any(m["mode"] != "sequential" for m in items)
    with_reason = any(m.get("reason") for m in items)
    columns = [Column("ID"), Column("FROM", min=8, order=3, cut="middle"),
               Column("TO", min=8, order=3, cut="middle")]
    columns += [Column("MODE")] if with_mode else []
    columns += [Column("STATE"), Column("BODY", min=12, order=1)]
    columns += [Column("REASON", min=16, order=2)] if with_reason else []
    rows = []
    for m in items:
        row = [m["id"], names.get(m.get("sender_id") or "", m["from"]),
               names.get(m["to"], m["to"])]
        row += [m["mode"]] if with_mode else []
        row += [m["state"], first_line(m["body"])]
        row += [m.get("reason") or ""] if with_reason else []
        rows.append(row)
    return table(columns, rows, cols)


def format_message(m: dict[str, Any], names: dict[str, str] | None = None) -> str:
    names = names or {}
    sender = names.get(m.get("sender_id") or "", m["from"])
    reason = f" — {m['reason']}" if m.get("reason") else ""
    return (f"{m['id']} from {sender} to {names.get(m['to'], m['to'])} ({m['mode']}): "
            f"{m['state']}{reason}\n{m['body']}")


def format_reminders(
    items: list[dict[str, Any]], names: dict[str, str] | None = None,
    now: float | None = None, cols: int | None = None,
) -> str:
    """ID [FOR] KIND DUE EVERY TEXT; FOR (whose reminder) when ``names`` is given."""
    now = now or time.time()
    columns = [Column("ID")]
    if names is not None:
        columns.append(Column("FOR", min=8, order=2, cut="middle"))
    columns += [Column("KIND"), Column("DUE"), Column("EVERY"), Column("TEXT", min=12, order=1)]
    rows = []
    for r in items:
        row = [r["id"]]
        if names is not None:
            row.append(names.get(r["session_id"], r["session_id"]))
        row += [r["kind"], "in " + span(r["due_at"] - now),
                span(r["every"]) if r.get("every") else "once", first_line(r["body"])]
        rows.append(row)
    return table(columns, rows, cols)


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


def format_worktrees(items: list[dict[str, Any]], cols: int | None = None) -> str:
    columns = [Column("SESSION", min=10, order=3, cut="middle"), Column("STATE"),
               Column("BRANCH", min=10, order=2, cut="middle"),
               Column("DIRTY", right_align=True), Column("UNPUSHED", right_align=True),
               Column("SIZE", right_align=True), Column("PATH", min=12, order=1, cut="start")]
    rows = [[w["session"], w["state"], w["branch"], str(w["dirty"]), str(w["unpushed"]),
             size(w["size"]), w["path"]] for w in items]
    return table(columns, rows, cols)

