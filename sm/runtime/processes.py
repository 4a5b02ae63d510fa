"""Ending what an agent left behind: every process it started, after it died.

An agent's tool calls may outlive it (``kill -9`` of the agent leaves them running,
reparented). Two marks find them: the process session of the agent's pane (tmux makes a
pane's first process a session leader, and children inherit the session), and the
agent's environment (sm gives each agent ``SM_SESSION_ID``; a child that started a
session of its own still inherits it). Those processes get SIGTERM, a short grace, then
SIGKILL. Never this process, its ancestors, or a process of another user. Linux only
(``/proc``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # pid (comm) state ppid pgrp session …; comm may hold spaces and parentheses
    fields = stat[stat.rfind(b")") + 2:].split()
    if len(fields) < 4 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[3])


def _has(pid: int, marker: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return marker in f.read().split(b"\0")
    except OSError:
        return False


def _protected() -> set[int]:
    """This process and its ancestors."""
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        found = _stat(pid)
        pid = found[0] if found else 1
    return out


def left_behind(sid: int, marker: str) -> list[int]:
    """Live processes in session ``sid`` or whose environment holds ``marker``."""
    mark = marker.encode()
    mine, uid = _protected(), os.getuid()
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        pid = int(entry)
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
        except OSError:
            continue
        found = _stat(pid)
        if found is not None and (found[1] == sid or _has(pid, mark)):
            out.append(pid)
    return out


def end_left_behind(sid: int, marker: str, grace: float = 1.0) -> int:
    """End what ``left_behind`` finds. Returns how many. Blocking: call it in a thread."""
    if sid <= 1 or sid == os.getsid(0):
        return 0
    pids = left_behind(sid, marker)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = set(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.02)
        left = {p for p in left if _stat(p) is not None}
    for pid in left:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)
