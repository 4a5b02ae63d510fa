"""What a test run leaves behind: the daemons, tmux servers, agents and temp ``SM_HOME``
directories it made and did not clean up.

The fixtures record every ``SM_HOME`` and private tmux socket they make in a ``Made``;
at the end of the run ``find`` lists what is still there and ``clean`` removes it. Only
what the run itself made is looked at: other work on the machine is never touched.
A process belongs to a recorded home when its environment's ``SM_HOME`` is that home or
below it (the daemon, the tmux server it started and every agent inherit it).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from sm.config import tmux_socket_for


@dataclass
class Made:
    homes: list[Path] = field(default_factory=list)
    sockets: list[str] = field(default_factory=list)  # tmux -L names made without a home

    def all_sockets(self) -> list[str]:
        return [tmux_socket_for(h) for h in self.homes] + self.sockets


def _socket_file(name: str) -> Path:
    return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / name


def _server_up(name: str) -> bool:
    out = subprocess.run(["tmux", "-L", name, "list-sessions"], capture_output=True,
                         timeout=10, stdin=subprocess.DEVNULL)
    return out.returncode == 0


def _sm_home_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(b"SM_HOME="):
            return entry[8:].decode(errors="replace")
    return None


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:120]


def _parent(pid: int) -> str:
    try:
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return "?"
    return f"{ppid} ({_cmdline(ppid)[:60]})"


def describe(pid: int) -> str:
    """``process PID: CMDLINE [parent PPID (CMDLINE)]``."""
    return f"process {pid}: {_cmdline(pid)} [parent {_parent(pid)}]"


def processes(made: Made) -> list[int]:
    """Live processes (not this one) whose ``SM_HOME`` is a recorded home or below it."""
    roots = [str(h) for h in made.homes]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        home = _sm_home_of(int(entry.name))
        if home and any(home == r or home.startswith(r + "/") for r in roots):
            found.append(int(entry.name))
    return sorted(found)


def find(made: Made) -> list[str]:
    """One line per thing left behind; empty when the run cleaned up after itself."""
    left = [describe(pid) for pid in processes(made)]
    for name in made.all_sockets():
        if _server_up(name):
            left.append(f"tmux server -L {name}")
        elif _socket_file(name).exists():
            left.append(f"tmux socket file {_socket_file(name)}")
    left += [f"SM_HOME {h}" for h in made.homes if h.exists()]
    return left


def clean(made: Made) -> None:
    """Remove what ``find`` lists: the recorded tmux servers, the processes of the
    recorded homes (SIGTERM, then SIGKILL), the socket files and the directories."""
    for name in made.all_sockets():
        subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    pids = processes(made)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and (pids := processes(made)):
            time.sleep(0.05)
    for name in made.all_sockets():
        _socket_file(name).unlink(missing_ok=True)
    for home in made.homes:
        shutil.rmtree(home, ignore_errors=True)
