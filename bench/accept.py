"""What one accept costs the daemon: ``POST /messages`` with nothing delivered meanwhile.

    .venv/bin/python bench/accept.py [--messages 3000] [--targets 4] [--senders 4]

The targets are scripted agents held in a long turn, so every message stays queued
behind it and the daemon does accept work only. First one client posts ``--messages``
one after the other (the daemon's CPU per accept, the request's wall time); then
``--senders`` parallel processes post as many again (accepted/s). Each request is a
connection of its own, as ``sm send`` makes. The
daemon's CPU comes from ``/proc`` (steadier than wall time on a shared machine); the
load average is printed with it. ``SM_BENCH_PROFILE=path`` runs the daemon under
cProfile (stats written there when it stops).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _harness import cpu_seconds, daemon, daemon_pid, line, stats, wait_until  # noqa: E402

from sm.client import Client  # noqa: E402

SCRIPT = """\
rules:
  - match: "hold"
    actions: [{sleep: 600}, {say: "held"}]
default:
  - say: "ok"
"""


def _sender(home: str, count: int, targets: int, out: str) -> None:
    client = Client(home=home, token="", session_id="")
    client.get("/health")
    start = time.time()
    for k in range(count):
        client.post("/messages", {"targets": [f"sink{k % targets}"], "body": f"m {k}"})
    Path(out).write_text(json.dumps({"start": start, "end": time.time()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--sender", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        home, count, targets, out = args.sender
        _sender(home, int(count), int(targets), out)
        return
    with tempfile.TemporaryDirectory(prefix="smb-script-") as tmp, \
            daemon(probe=True, SM_SCRIPTED_SPEED="1") as env:
        script = Path(tmp) / "hold.yaml"
        script.write_text(SCRIPT)
        home = env["SM_HOME"]
        client = Client(home=home, token="", session_id="", timeout=120)
        for i in range(args.targets):
            rec = client.post("/sessions", {"provider": "scripted", "name": f"sink{i}",
                                            "cwd": "/tmp", "options": {"script": str(script)}})
            wait_until(lambda rec=rec: client.get(f"/sessions/{rec['id']}")["state"] == "idle",
                       60, 0.05)
            client.post("/messages", {"targets": [f"sink{i}"], "body": "hold"})
            wait_until(lambda rec=rec: client.get(f"/sessions/{rec['id']}")["state"]
                       == "running", 60, 0.02)
        pid = daemon_pid(env)
        for _ in range(50):  # warm up
            client.post("/messages", {"targets": ["sink0"], "body": "warm"})
        time.sleep(1.0)
        print(f"daemon pid {pid}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
              flush=True)
        samples = []
        cpu0, t0 = cpu_seconds(pid), time.perf_counter()
        for k in range(args.messages):
            start = time.perf_counter()
            client.post("/messages", {"targets": [f"sink{k % args.targets}"], "body": f"s {k}"})
            samples.append((time.perf_counter() - start) * 1000)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
        line("one client: POST /messages (wall)", stats(samples))
        print(f"one client: {args.messages / elapsed:,.0f} accepts/s; daemon CPU "
              f"{cpu * 1000 / args.messages:.2f} ms per accept")

        share = args.messages // args.senders
        outs = [f"{home}/sender{n}.json" for n in range(args.senders)]
        cpu0 = cpu_seconds(pid)
        procs = [subprocess.Popen([sys.executable, __file__, "--sender", home, str(share),
                                   str(args.targets), out]) for out in outs]
        for proc in procs:
            proc.wait()
        cpu = cpu_seconds(pid) - cpu0
        results = [json.loads(Path(o).read_text()) for o in outs]
        span = max(r["end"] for r in results) - min(r["start"] for r in results)
        total = share * args.senders
        print(f"{args.senders} sender processes: {total} accepted at {total / span:,.0f}/s; "
              f"daemon CPU {cpu * 1000 / total:.2f} ms per accept")
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
