"""The one console and the pure formatters the human commands print through."""

from __future__ import annotations

import json
import sys
import time
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

STATE_STYLE = {
    "starting": "cyan", "idle": "green", "running": "yellow",
    "waiting_permission": "magenta", "exited": "dim", "error": "red", "stopped": "dim",
}


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def ago(ts: float, now: float | None = None) -> str:
    secs = max(0, int((now or time.time()) - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


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


def format_sessions(items: list[dict[str, Any]], now: float | None = None) -> Table:
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    # in 80 columns the name, parent and last message give way; the rest never does
    keep = {"ID": 10, "AGE": 3, "COST": 8, "CTX": 4}
    for col in ("NAME", "ID", "PROVIDER", "STATE", "AGE", "COST", "CTX", "PARENT", "LAST"):
        table.add_column(col, no_wrap=col != "LAST", overflow="ellipsis",
                         justify="right" if col in ("COST", "CTX") else "left",
                         min_width=keep.get(col))
    for s in items:
        style = STATE_STYLE.get(s["state"], "")
        last = (s.get("status_text") or s.get("last_message") or "").splitlines()
        table.add_row(
            s["name"] or "-", s["id"], s["provider"], f"[{style}]{s['state']}[/]",
            ago(s["created_at"], now), cost_text(s.get("cost_micros"), s.get("unpriced_models")),
            context_text(s.get("context")), s.get("parent_id") or "",
            last[0][:60] if last else "",
        )
    return table


def format_session(s: dict[str, Any]) -> str:
    rows = [
        ("name", s["name"] or "-"), ("id", s["id"]), ("provider", s["provider"]),
        ("state", s["state"]), ("cwd", s["cwd"]), ("parent", s.get("parent_id") or "-"),
        ("conversation", s.get("conversation_id") or "-"), ("tmux", s["tmux_session"]),
    ]
    if s.get("exit_status") is not None:
        rows.append(("exit status", str(s["exit_status"])))
    if s.get("last_message"):
        rows.append(("last message", s["last_message"][:300]))
    return "\n".join(f"{k:>13}: {v}" for k, v in rows)


def format_event(e: dict[str, Any], names: dict[str, str] | None = None) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(e["ts"]))
    who = (names or {}).get(e["session_id"] or "", e["session_id"] or "-")
    payload = e["payload"]
    if e["kind"] == "state":
        detail = f"{payload['from']} → {payload['to']} ({payload['signal']})"
    elif e["kind"] == "hook":
        data = payload.get("data") or {}
        detail = payload["event"]
        if data.get("tool_name"):
            detail += f" {data['tool_name']}"
    else:
        detail = json.dumps(payload)[:160]
    return f"{e['seq']:>6} {when} {who:<14} {e['kind']:<10} {detail}"


def format_actions(items: list[dict[str, Any]]) -> str:
    lines = []
    for a in items:
        when = time.strftime("%H:%M:%S", time.localtime(a["ts"]))
        data = a.get("input") or {}
        summary = data.get("command") or data.get("file_path") or json.dumps(data)[:100]
        lines.append(f"{when} {a.get('tool') or '?':<10} {summary}")
    return "\n".join(lines) or "no tool actions yet"
