"""Locks: the CLI round trip an agent pays, and many sessions contending for few files.

    .venv/bin/python bench/locks.py [--runs 40] [--sessions 20] [--cycles 1000] [--files 10]

1. ``sm lock F`` then ``sm unlock F`` from a session's shell (wall time of each CLI
   call), next to a bare ``python -c pass`` measured in the same run.
2. ``--cycles`` lock/unlock cycles over the HTTP API spread across ``--sessions`` shell
   sessions (one thread each, session tokens), on ``--files`` shared paths so most
   requests wait for another holder. Afterwards the event log is replayed to check that
   no path ever had two holders, every grant was released, and no lease was leaked.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, SM, daemon, line, session_token, stats, timed  # noqa: E402

sys.path.insert(0, str(ROOT))
from sm.client import Client  # noqa: E402


def _token(home: str, sid: str) -> str:
    return session_token(home, sid)


def _spawn(env: dict[str, str], name: str) -> str:
    out = subprocess.run([SM, "spawn", "shell", "--name", name, "--json", "--", "sleep", "600"],
                         env=env, check=True, capture_output=True, text=True).stdout
    return str(json.loads(out)["id"])


def cli_round_trip(env: dict[str, str], runs: int) -> None:
    home = env["SM_HOME"]
    sid = _spawn(env, "bench-cli")
    senv = {**env, "SM_SESSION_ID": sid, "SM_SESSION_TOKEN": _token(home, sid)}
    work = Path(home) / "work"
    work.mkdir()

    def call(*args: str) -> None:
        subprocess.run([SM, *args], env=senv, cwd=work, check=True, stdout=subprocess.DEVNULL)

    for _ in range(3):  # warm the page cache and the daemon
        call("lock", "f.txt")
        call("unlock", "f.txt")
    bare = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), runs)
    lock, unlock, both = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        call("lock", "f.txt")
        t1 = time.perf_counter()
        call("unlock", "f.txt")
        t2 = time.perf_counter()
        lock.append((t1 - t0) * 1000)
        unlock.append((t2 - t1) * 1000)
        both.append((t2 - t0) * 1000)
    print(f"-- CLI round trip ({runs} runs)")
    line("python -c pass (same run)", bare)
    line("sm lock f.txt", stats(lock), extra=f"  {stats(lock)['p50'] / bare['p50']:.1f}x bare")
    line("sm unlock f.txt", stats(unlock))
    line("lock + unlock", stats(both))


def contention(env: dict[str, str], sessions: int, cycles: int, files: int) -> None:
    home = env["SM_HOME"]
    ids = [_spawn(env, f"bench-{i}") for i in range(sessions)]
    clients = [Client(home=Path(home), token=_token(home, sid), session_id=sid, timeout=120,
                      autostart=False) for sid in ids]
    paths = [f"/tmp/sm-bench-locks/file-{i}.txt" for i in range(files)]
    per = [cycles // sessions + (1 if i < cycles % sessions else 0) for i in range(sessions)]
    first_seq = Client(home=Path(home), autostart=False).get(
        "/events", limit=1, newest=1)["items"][-1]["seq"]
    lost: list[str] = []
    latencies: list[float] = []
    mutex = threading.Lock()

    def worker(i: int) -> None:
        client = clients[i]
        for n in range(per[i]):
            path = paths[(i * 7 + n * 3) % len(paths)]
            t0 = time.perf_counter()
            try:
                got = client.post("/locks", {"paths": [path], "cwd": "/", "wait": 60})["items"]
                if [g["path"] for g in got] != [path]:
                    lost.append(f"{ids[i]} asked for {path}, got {got}")
                released = client.post("/locks/release", {"paths": [path], "cwd": "/"})["items"]
                if len(released) != 1:
                    lost.append(f"{ids[i]} released {released} for {path}")
            except Exception as exc:  # a refusal here is a lost lease: report, go on
                lost.append(f"{ids[i]} {path}: {exc}")
            with mutex:
                latencies.append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(sessions)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    operator = Client(home=Path(home), autostart=False)
    leaked = operator.get("/locks")["items"]
    overlaps, granted, released, waits = _replay(operator, first_seq)
    print(f"-- {cycles} lock/unlock cycles, {sessions} sessions, {files} shared files")
    line("cycle (lock, maybe wait, unlock)", stats(latencies))
    print(f"{'total wall':<44} {wall:8.2f} s   {cycles / wall:8.1f} cycles/s")
    print(f"{'grants / releases / waits logged':<44} {granted} / {released} / {waits}")
    print(f"{'lost (refused, wrong grant or release)':<44} {len(lost)}")
    print(f"{'leaked (leases left at the end)':<44} {len(leaked)}")
    print(f"{'moments a path had two holders':<44} {overlaps}")
    for problem in lost[:5]:
        print("  lost:", problem)


def _replay(client: Client, after: int) -> tuple[int, int, int, int]:
    """Walk the lock events in order: how often a grant found the path already held."""
    holder: dict[str, str] = {}
    overlaps = granted = released = waits = 0
    while True:
        page = client.get("/events", after=after, limit=1000, kind="lock")
        for ev in page["items"]:
            payload, sid = ev["payload"], ev["session_id"]
            for path in payload["paths"]:
                if payload["action"] == "granted":
                    granted += 1
                    if holder.get(path) not in (None, sid):
                        overlaps += 1
                    holder[path] = sid
                elif payload["action"] in ("released", "expired"):
                    released += 1
                    if holder.get(path) == sid:
                        del holder[path]
                elif payload["action"] == "waiting":
                    waits += 1
        if not page["next"]:
            return overlaps, granted, released, waits
        after = page["next"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    with daemon() as env:
        cli_round_trip(env, args.runs)
        contention(env, args.sessions, args.cycles, args.files)


if __name__ == "__main__":
    main()
