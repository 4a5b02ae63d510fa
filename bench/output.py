"""Pushed pane output at scale: N shell sessions each printing about 1 KB a second.

    .venv/bin/python bench/output.py [--sessions 100] [--seconds 20]

Prints the daemon's CPU, its event-loop lag (a probe in its loop: how late a 10 ms sleep
wakes), the RSS of the daemon and of the tmux control client, and how many times tmux
paused a pane because the daemon fell behind (0 = it kept up). Asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    SM,
    cpu_seconds,
    daemon,
    daemon_pid,
    lag_since,
    line,
    stats,
)

PRINTER = ("import time\n"
           "n = 0\n"
           "while True:\n"
           "    n += 1\n"
           "    print(f'{n:08d} ' + 'x' * 1014, flush=True)\n"
           "    time.sleep(1)\n")


def _rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int([x for x in status.splitlines() if x.startswith("VmRSS")][0].split()[1]) / 1024


def _control_client(env: dict[str, str]) -> int:
    from sm.config import tmux_socket_for

    out = subprocess.run(["tmux", "-L", tmux_socket_for(Path(env["SM_HOME"])), "list-clients",
                          "-F", "#{client_pid} #{client_control_mode}"],
                         capture_output=True, text=True, check=True).stdout
    return next(int(p) for p, c in (row.split() for row in out.splitlines()) if c == "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    with daemon(probe=True) as env:
        for i in range(args.sessions):
            subprocess.run([SM, "spawn", "shell", "--name", f"out{i}", "--", sys.executable,
                            "-c", PRINTER], env=env, check=True, capture_output=True)
        time.sleep(3)
        pid, client = daemon_pid(env), _control_client(env)
        log = Path(env["SM_HOME"]) / "logs" / "daemon.out"
        paused0 = log.read_text().count("tmux paused pane")
        _, offset = lag_since(env, 0)
        cpu0, client0, t0 = cpu_seconds(pid), cpu_seconds(client), time.monotonic()
        time.sleep(args.seconds)
        wall = time.monotonic() - t0
        cpu = (cpu_seconds(pid) - cpu0) / wall * 100
        client_cpu = (cpu_seconds(client) - client0) / wall * 100
        lags, _ = lag_since(env, offset)
        paused = log.read_text().count("tmux paused pane") - paused0
        ordered = sorted(lags)
        p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
        print(f"{args.sessions} shell sessions printing ~1 KB/s each for {wall:.0f} s: "
              f"daemon CPU {cpu:.1f} % of a core, RSS {_rss_mib(pid):.1f} MiB; control client "
              f"CPU {client_cpu:.1f} %, RSS {_rss_mib(client):.1f} MiB; panes paused {paused}")
        line("  event-loop lag (10 ms sleep)", stats(lags), extra=f"  p99 {p99:.1f} ms")


if __name__ == "__main__":
    main()
