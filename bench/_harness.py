"""Shared bench plumbing: a private daemon on a temp SM_HOME, timing helpers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SM = str(BIN / "sm")


def stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": statistics.median(ordered), "p95": p95, "n": len(ordered)}


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return stats(samples)


def line(label: str, s: dict[str, float], unit: str = "ms", extra: str = "") -> None:
    print(f"{label:<44} p50 {s['p50']:8.2f} {unit}   p95 {s['p95']:8.2f} {unit}   "
          f"(n={int(s['n'])}){extra}")


@contextmanager
def daemon(home: str | None = None, **env_extra: str) -> Iterator[dict[str, str]]:
    """A daemon on ``home`` (default: a fresh temp SM_HOME); stopped (by its pid), its
    tmux server killed and ``home`` removed on exit."""
    home = home or tempfile.mkdtemp(prefix="smb-", dir="/tmp")
    env = {**os.environ, "SM_HOME": home, **env_extra}
    env.pop("SM_SESSION_TOKEN", None)
    env.pop("SM_SESSION_ID", None)
    subprocess.run([SM, "daemon", "start"], env=env, check=True, capture_output=True)
    try:
        yield env
    finally:
        pid_file = Path(home) / "daemon.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.02)
        sys.path.insert(0, str(ROOT))
        from sm.config import tmux_socket_for

        socket = tmux_socket_for(Path(home))
        listed = subprocess.run(["tmux", "-L", socket, "list-panes", "-a", "-F", "#{pane_pid}"],
                                capture_output=True, text=True).stdout.split()
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
        # the agents fire their SessionEnd hooks on the way out: let them finish first
        wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in listed), timeout=5)
        tmux_dir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (tmux_dir / socket).unlink(missing_ok=True)  # tmux 3.3 leaves it behind
        shutil.rmtree(home, ignore_errors=True)


def sm_json(env: dict[str, str], *args: str) -> object:
    out = subprocess.run([SM, *args, "--json"], env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def daemon_pid(env: dict[str, str]) -> int:
    return int((Path(env["SM_HOME"]) / "daemon.pid").read_text())


def wait_until(
    predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.01
) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
