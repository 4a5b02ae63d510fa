"""Processes as the kernel reports them: a Unix socket peer's pid, a process's parent,
session and start time from ``/proc``.

Linux only. A pid with its start time names one process for good (a pid alone may be
reused); a session id cannot be reused while any process still belongs to it.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_DEPTH = 64  # ancestors walked at most (a process tree is rarely 20 deep)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    sid: int  # the session (setsid) the process belongs to: its leader's pid
    start: int  # clock ticks after boot: with the pid, one process for good


def peer_pid(sock: Any) -> int | None:
    """The pid of the process at the other end of a Unix socket (``SO_PEERCRED``), as
    of its ``connect``; None when the kernel cannot say (another pid namespace)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return None
    pid = int(struct.unpack("3i", bytes(raw))[0])
    return pid or None


class Procs:
    """Reads ``/proc`` (``root``: another mount of it, for tests)."""

    def __init__(self, root: Path = Path("/proc")) -> None:
        self._root = str(root)  # joined by hand: a pathlib join costs more than the read

    def stat(self, pid: int) -> Proc | None:
        """The process ``pid`` now, or None when it is gone."""
        try:
            with open(f"{self._root}/{pid}/stat", "rb") as f:
                text = f.read()
        except (OSError, ValueError):
            return None
        # the command name (field 2) may hold spaces and parentheses: split after it
        fields = text.rsplit(b")", 1)[-1].split()
        try:
            return Proc(pid, int(fields[1]), int(fields[3]), int(fields[19]))
        except (IndexError, ValueError):
            return None
