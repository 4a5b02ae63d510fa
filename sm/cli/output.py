"""The one console, progress on stderr, and the formatters of events and tool actions.
(Sessions, messages and the other tables are in ``views``: the fast path prints them.)"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


@cache
def console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


@contextmanager
def progress(what: str, stream: IO[str] | None = None, delay: float = 0.5) -> Iterator[None]:
    """While the block runs longer than ``delay`` seconds, a spinner on ``stream``
    (stderr) says what sm waits for, with the seconds so far; erased at the end. Only
    on a terminal: scripts see nothing."""
    out = stream or sys.stderr
    if not out.isatty():
        yield
        return
    stop = threading.Event()
    started = time.monotonic()

    def spin() -> None:
        if stop.wait(delay):
            return
        frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
        i = 0
        while not stop.is_set():
            out.write(f"\r{frames[i % len(frames)]} {what} "
                      f"({time.monotonic() - started:.0f}s)\x1b[K")
            out.flush()
            i += 1
            stop.wait(0.1)
        out.write("\r\x1b[K")
        out.flush()

    thread = threading.Thread(target=spin, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
