"""A backlog drained into one agent: is the pace the agent's, or the daemon's?

    .venv/bin/python bench/backlog.py [--messages 2000] [--speeds 0.05,0.5]

For each scripted-agent speed: one agent is held in a long turn while ``--messages``
sequential messages queue behind it; then the turn ends and the queue drains, one turn
per message. Prints the drain rate (msg/s), the daemon's CPU over the drain (% of one
core) and the agent's, and the daemon's CPU per message. A slower agent (a higher speed
factor: each scripted ``sleep`` lasts that much longer) drains slower at the same daemon
cost per message: the pace is the agent's. Then the agent is killed with the backlog
queued again: how fast sm fails what can no longer be delivered.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _harness import daemon, daemon_pid, wait_until  # noqa: E402

from sm.client import Client  # noqa: E402
from sm.config import tmux_socket_for  # noqa: E402

SCRIPT = """\
rules:
  - match: "hold"
    actions: [{sleep: %s}, {say: "held"}]
default:
  - sleep: 0.1
  - say: "ok"
"""
HOLD = 30.0  # seconds the first turn lasts: long enough to queue the backlog behind it
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU of ``pid`` (with its reaped children's, when asked)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


def tree_cpu(root: int) -> float:
    """CPU of ``root`` and every live descendant (the agent and its hooks)."""
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += cpu_seconds(pid, children=True)
        except OSError:
            continue
        todo += kids.get(pid, [])
    return total


def drain(messages: int, speed: float) -> None:
    with tempfile.TemporaryDirectory(prefix="smb-script-") as tmp, \
            daemon(SM_SCRIPTED_SPEED=str(speed)) as env:
        script = Path(tmp) / "backlog.yaml"
        script.write_text(SCRIPT % (HOLD / speed))
        client = Client(home=env["SM_HOME"], token="", session_id="", timeout=120)
        rec = client.post("/sessions", {"provider": "scripted", "name": "sink", "cwd": "/tmp",
                                        "options": {"script": str(script)}})
        wait_until(lambda: client.get(f"/sessions/{rec['id']}")["state"] == "idle", 60, 0.05)
        client.post("/messages", {"targets": ["sink"], "body": "hold"})
        wait_until(lambda: client.get(f"/sessions/{rec['id']}")["state"] == "running", 60, 0.02)
        started = time.perf_counter()
        for i in range(messages):
            client.post("/messages", {"targets": ["sink"], "body": f"m{i}"})
        accepted = time.perf_counter() - started
        tmux = ["tmux", "-L", tmux_socket_for(Path(env["SM_HOME"]))]
        pane = int(subprocess.run([*tmux, "display", "-p", "-t", f"=sm-{rec['id']}:",
                                   "#{pane_pid}"], capture_output=True, text=True,
                                  check=True).stdout)
        pid = daemon_pid(env)
        # the held turn ends on its own (its Stop): from then on the queue drains
        wait_until(lambda: client.get(f"/sessions/{rec['id']}")["last_message"] == "held",
                   timeout=3 * HOLD, interval=0.01)
        d0, a0, t0 = cpu_seconds(pid), tree_cpu(pane), time.perf_counter()

        def done() -> bool:
            page = client.get("/messages", state="queued,delivering", limit=1)
            return not page["items"]

        wait_until(done, timeout=3600, interval=0.5)
        elapsed = time.perf_counter() - t0
        daemon_cpu, agent_cpu = cpu_seconds(pid) - d0, tree_cpu(pane) - a0
        delivered = len(client.get("/messages", to="sink", state="delivered", limit=1000)["items"])
        print(f"speed {speed:<5} accepted {messages} in {accepted:5.1f} s "
              f"({messages / accepted:6.0f}/s); drained in {elapsed:6.1f} s: "
              f"{messages / elapsed:5.1f} msg/s; daemon CPU {100 * daemon_cpu / elapsed:4.1f} % "
              f"({1000 * daemon_cpu / messages:4.1f} ms/msg), agent CPU "
              f"{100 * agent_cpu / elapsed:4.1f} %; last 1000: {delivered} delivered")

        # the same backlog to an agent that dies: failed, with a reason, how fast?
        client.post("/messages", {"targets": ["sink"], "body": "hold"})
        wait_until(lambda: client.get(f"/sessions/{rec['id']}")["state"] == "running", 60, 0.02)
        for i in range(messages):
            client.post("/messages", {"targets": ["sink"], "body": f"d{i}"})
        t0, d0 = time.perf_counter(), cpu_seconds(pid)
        client.post("/sessions/sink/kill")
        wait_until(done, timeout=3600, interval=0.2)
        elapsed = time.perf_counter() - t0
        print(f"{'':11} the agent killed with {messages} queued: all failed in {elapsed:5.2f} s "
              f"({messages / elapsed:7.0f}/s), daemon CPU {cpu_seconds(pid) - d0:4.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--speeds", default="0.05,0.5")
    args = parser.parse_args()
    for speed in (float(s) for s in args.speeds.split(",")):
        drain(args.messages, speed)


if __name__ == "__main__":
    main()
