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


def timed_cpu(fn: Callable[[], object], runs: int) -> dict[str, float]:
    """CPU time (user + system, ms) of the child processes ``fn`` runs and waits for:
    steadier than wall time on a machine shared with other work."""
    import resource

    samples = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        fn()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        samples.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                       * 1000)
    return stats(samples)


def line(label: str, s: dict[str, float], unit: str = "ms", extra: str = "") -> None:
    print(f"{label:<44} p50 {s['p50']:8.2f} {unit}   p95 {s['p95']:8.2f} {unit}   "
          f"(n={int(s['n'])}){extra}")


@contextmanager
def daemon(home: str | None = None, probe: bool = False,
           **env_extra: str) -> Iterator[dict[str, str]]:
    """A daemon on ``home`` (default: a fresh temp SM_HOME); stopped (by its pid), its
    tmux server killed and ``home`` removed on exit. ``probe``: run it with a loop-lag
    probe; the samples go to the file ``env["SM_BENCH_LAG"]`` (see ``lag_since``)."""
    home = home or tempfile.mkdtemp(prefix="smb-", dir="/tmp")
    env = {**os.environ, "SM_HOME": home, **env_extra}
    env.pop("SM_SESSION_TOKEN", None)
    env.pop("SM_SESSION_ID", None)
    if probe:
        env["SM_BENCH_LAG"] = str(Path(home) / "lag.txt")
        os.makedirs(Path(home) / "logs", exist_ok=True)
        with open(Path(home) / "logs" / "daemon.out", "ab") as out:
            subprocess.Popen([sys.executable, str(ROOT / "bench" / "_probed_daemon.py")],
                             env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        sys.path.insert(0, str(ROOT))
        from sm.client import Client

        probe_client = Client(home=home, token="", session_id="", autostart=False)
        if not wait_until(probe_client.is_up, timeout=30):
            raise RuntimeError(f"the probed daemon did not start; see {home}/logs")
    else:
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


def lag_since(env: dict[str, str], offset: int) -> tuple[list[float], int]:
    """Loop-lag samples (ms) the probe wrote after byte ``offset``; the new offset."""
    path = Path(env["SM_BENCH_LAG"])
    data = path.read_bytes()[offset:] if path.exists() else b""
    cut = data.rfind(b"\n") + 1
    return [float(x) for x in data[:cut].split()], offset + cut


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU time of a process so far (``children``: with that of the
    children it has waited for, such as an agent's hook processes)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / os.sysconf("SC_CLK_TCK")


def sm_json(env: dict[str, str], *args: str) -> object:
    out = subprocess.run([SM, *args, "--json"], env=env, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)


def session_token(home: str, session_id: str) -> str:
    """The session's token, from the 0600 file sm points the agent to."""
    return (Path(home) / "sessions" / session_id / "token").read_text().strip()


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
