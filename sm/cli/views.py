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


def cost_text(micros: int | None, unpriced: list[str] | tuple[str, ...] | None = None) -> str:
    """``$0.42``; ``+?`` when some models had no price; "" for nothing spent."""
    mark = "+?" if unpriced else ""
    if not micros:
        return "?" if unpriced else ""
    usd = micros / 1_000_000
    text = f"${usd:.2f}" if usd < 100 else f"${usd:,.0f}"
    return text + mark


def context_text(ctx: dict[str, Any] | None) -> str:
    """``45%`` of the window, or ``120k`` tokens when the window is unknown."""
    if not ctx:
        return ""
    if ctx.get("percent") is not None:
        return f"{ctx['percent']:.0f}%"
    return f"{ctx['tokens'] / 1000:.0f}k"


def format_sessions(
    items: list[dict[str, Any]], names: dict[str, str] | None = None,
    now: float | None = None, cols: int | None = None, color: bool = False,
) -> str:
    """NAME ID PROVIDER STATE AGE [COST CTX] PARENT LAST, one session a line. COST and
    CTX when any session has spent something or has a context; then, in a narrow
    terminal, PROVIDER and then AGE give way before the names are cut below 8."""
    names = names or names_of(items)
    spent = any(s.get("cost_micros") or s.get("unpriced_models") or s.get("context")
                for s in items)
    least = 8 if spent else 10
    columns = [
        Column("NAME", min=least, order=4, cut="middle"), Column("ID"),
        Column("PROVIDER", min=5, order=3, drop=1 if spent else 0), Column("STATE"),
        Column("AGE", drop=2 if spent else 0),
    ]
    if spent:
        columns += [Column("COST", right_align=True), Column("CTX", right_align=True)]
    columns += [Column("PARENT", min=least, order=2, cut="middle"),
                Column("LAST", min=8, order=1)]
    rows = []
    for s in items:
        row = [s["name"] or "-", s["id"], s["provider"], s["state"], ago(s["created_at"], now)]
        if spent:
            row += [cost_text(s.get("cost_micros"), s.get("unpriced_models")),
                    context_text(s.get("context"))]
        row += [names.get(s.get("parent_id") or "", s.get("parent_id") or ""),
                held_text(s) or first_line(s.get("status_text") or s.get("last_message"))]
        rows.append(row)
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
    if held_text(s):
        rows.append(("launch", held_text(s)))
    if s.get("exit_status") is not None:
        rows.append(("exit status", str(s["exit_status"])))
    if s.get("failure"):
        rows.append(("last failure", format_failure(s["failure"], now)))
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


def held_text(s: dict[str, Any]) -> str:
    """``held: scripted is rate limited until 14:03:07`` for a spawn whose agent is not
    launched yet; "" otherwise."""
    hold = s.get("launch_hold")
    if not hold or s.get("state") != "starting":
        return ""
    return f"held: {hold.get('reason') or 'waiting to launch'}"


def format_failure(f: dict[str, Any], now: float | None = None) -> str:
    """``rate_limit until 14:03:07 (2m ago): API Error: …``"""
    now = time.time() if now is None else now
    text = str(f.get("class") or "other")
    reset = f.get("reset_at")
    if isinstance(reset, int | float):
        stamp = time.strftime("%H:%M:%S", time.localtime(reset))
        text += f" until {stamp}" if reset > now and not f.get("lifted_at") else \
            f" (reset {stamp})"
    if isinstance(f.get("at"), int | float):
        text += f" ({ago(f['at'], now)} ago)"
    return f"{text}: {f['detail']}" if f.get("detail") else text


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


def format_inbox(items: list[dict[str, Any]], cols: int | None = None,
                 now: float | None = None) -> str:
    """The operator's notes, newest first: ``*`` marks an unread one."""
    columns = [Column(""), Column("ID"), Column("FROM", min=8, order=3, cut="middle"),
               Column("AGE"), Column("BODY", min=12, order=1)]
    rows = [["*" if not n["read"] else "", n["id"], n["from"], ago(n["created_at"], now),
             first_line(n["body"])] for n in items]
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



_USAGE_COLUMNS = (("RESPONSES", "responses"), ("INPUT", "input_tokens"),
                  ("CACHE WRITE", "cache_creation_input_tokens"),
                  ("CACHE READ", "cache_read_input_tokens"), ("OUTPUT", "output_tokens"))


def format_usage(report: dict[str, Any], cols: int | None = None) -> str:
    """``sm usage``: a line per group (``by``), the total, the side requests apart."""
    by = report.get("by")
    columns = [Column((by or "").upper() or "USAGE", min=10, order=1, cut="middle")]
    columns += [Column(title, right_align=True) for title, _ in _USAGE_COLUMNS]
    columns.append(Column("COST", right_align=True))
    labels = report.get("labels") or {}
    rows = []
    for line in report.get("groups") or []:
        key = line["key"] or "-"
        rows.append([f"{labels[key]} ({key})" if key in labels else key, *_usage_cells(line)])
    rows.append(["total", *_usage_cells(report["total"])])
    side = report.get("side")
    if side is not None:
        rows.append(["side requests", *_usage_cells(side["total"])])
    return table(columns, rows, cols)


def format_usage_notes(report: dict[str, Any]) -> list[str]:
    """What the table cannot say: the context, models without a price, what is not
    counted, skipped lines and errors, the prices' date."""
    notes = []
    job, project = report.get("job"), report.get("project")
    if job:
        n = len(job["sessions"])
        name = f"{job['name']} ({job['id']})" if job.get("name") else job["id"]
        notes.append(f"job {name}: {n} session{'s' * (n != 1)}"
                     + (f" ({', '.join(job['sessions'])})" if n else ", it has not run yet"))
    if project:
        notes.append(f"project {project}: the sessions started in it")
    ctx = report.get("context")
    if ctx:
        notes.append(f"context: {ctx['tokens']:,} tokens"
                     + (f" of {ctx['window']:,} ({ctx['percent']}%)" if ctx.get("window") else "")
                     + f" · {ctx['model']}")
    unpriced = report["total"].get("unpriced_models") or []
    if unpriced:
        notes.append(f"no price for {', '.join(unpriced)}: its tokens are counted, its cost "
                     "is not (usage.prices in config.yaml)")
    if report.get("side") is None:
        notes.append("side requests (titles, …): not counted (usage.telemetry is off)")
    errors = report.get("errors") or {}
    if report.get("skipped_lines") or errors:
        counted = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(errors.items()))
        notes.append(f"{report.get('skipped_lines', 0)} malformed record lines skipped"
                     + (f"; errors: {counted}" if counted else ""))
    notes.append(f"prices as of {report['prices_as_of']}; costs exclude discounts and "
                 "long-prompt rates")
    return notes


def _usage_cells(line: dict[str, Any]) -> list[str]:
    return [f"{line[key]:,}" for _, key in _USAGE_COLUMNS] + [
        cost_text(line["cost_micros"], line.get("unpriced_models"))]
