"""Message delivery: latency into an idle agent, and a flood across many agents.

    .venv/bin/python bench/delivery.py [--agents 20] [--messages 10000] [--latency-runs 50]
                                       [--senders 4]

Prints figures; asserts nothing. Lost/duplicated counts come from the agents' own
transcripts. Senders are parallel processes, each posting one message per request (a
connection per request, as ``sm send`` makes); the daemon runs with a loop-lag probe
(``_probed_daemon.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _harness import (  # noqa: E402
    cpu_seconds,
    daemon,
    daemon_pid,
    lag_since,
    line,
    stats,
    wait_until,
)

from sm.client import Client  # noqa: E402


def _received(home: str, session_id: str) -> list[str]:
    out = []
    for path in (Path(home) / "sessions" / session_id / "transcripts").glob("*.jsonl"):
        for raw in path.read_text().splitlines():
            record = json.loads(raw)
            if record.get("type") == "user":
                out.append(record["prompt"])
    return out


def _spawn(client: Client, name: str) -> str:
    rec = client.post("/sessions", {"provider": "scripted", "name": name, "cwd": "/tmp"})
    wait_until(lambda: client.get(f"/sessions/{rec['id']}")["state"] == "idle", timeout=60,
               interval=0.05)
    return str(rec["id"])


def latency(client: Client, runs: int) -> None:
    sid = _spawn(client, "lat")
    samples = []
    for i in range(runs):
        msg = client.post("/messages", {"targets": ["lat"], "body": f"ping {i}"})["items"][0]
        mid = msg["id"]
        wait_until(lambda mid=mid: client.get(f"/messages/{mid}")["state"] == "delivered",
                   timeout=30, interval=0.002)
        m = client.get(f"/messages/{msg['id']}")
        samples.append((m["delivered_at"] - m["created_at"]) * 1000)
        wait_until(lambda: client.get(f"/sessions/{sid}")["state"] == "idle", timeout=30,
                   interval=0.002)
    line("accept → delivered, idle scripted agent", stats(samples))


def _sender(home: str, first: int, count: int, agents: int, out: str) -> None:
    """One sender process: ``count`` messages, one POST (and connection) each."""
    client = Client(home=home, token="", session_id="")
    client.get("/health")
    start = time.time()
    ids = []
    for k in range(first, first + count):
        item = client.post("/messages", {"targets": [f"f{k % agents}"], "mode": "important",
                                         "body": f"flood {k}"})["items"][0]
        ids.append(item["id"])
    Path(out).write_text(json.dumps({"start": start, "end": time.time(), "ids": ids}))


def _pane_pids(env: dict[str, str]) -> list[int]:
    """The agents' processes (each pane's first): their hooks are their children."""
    from sm.config import tmux_socket_for

    out = subprocess.run(["tmux", "-L", tmux_socket_for(Path(env["SM_HOME"])), "list-panes",
                          "-a", "-F", "#{pane_pid}"], capture_output=True, text=True, check=True)
    # each agent's window is linked into sm's control session too: listed twice
    return sorted({int(p) for p in out.stdout.split() if p.isdigit() and int(p) > 0})


def _tmux_server_pid(env: dict[str, str]) -> int:
    from sm.config import tmux_socket_for

    out = subprocess.run(["tmux", "-L", tmux_socket_for(Path(env["SM_HOME"])), "display-message",
                          "-p", "#{pid}"], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def flood(client: Client, env: dict[str, str], agents: int, messages: int, senders: int) -> None:
    home = env["SM_HOME"]
    ids = [_spawn(client, f"f{i}") for i in range(agents)]
    pid, tmux_pid = daemon_pid(env), _tmux_server_pid(env)
    panes = _pane_pids(env)
    _, lag_offset = lag_since(env, 0)
    cpu0, tmux0 = cpu_seconds(pid), cpu_seconds(tmux_pid)
    agents0 = sum(cpu_seconds(p, children=True) for p in panes)
    share = messages // senders
    procs, outs = [], []
    t0 = time.time()
    for n in range(senders):
        out = f"{home}/sender{n}.json"
        outs.append(out)
        count = share if n < senders - 1 else messages - share * (senders - 1)
        procs.append(subprocess.Popen([sys.executable, __file__, "--sender", home, str(n * share),
                                       str(count), str(agents), out]))
    for proc in procs:
        proc.wait()
    results = [json.loads(Path(o).read_text()) for o in outs]
    sent = [m for r in results for m in r["ids"]]
    accept_s = max(r["end"] for r in results) - min(r["start"] for r in results)

    def settled() -> bool:
        page = client.get("/messages", state="queued,delivering", limit=1)
        return not page["items"]

    wait_until(settled, timeout=3600, interval=0.2)
    total_s = time.time() - t0
    cpu = cpu_seconds(pid) - cpu0
    tmux_cpu = cpu_seconds(tmux_pid) - tmux0
    agents_cpu = sum(cpu_seconds(p, children=True) for p in panes) - agents0
    lags, _ = lag_since(env, lag_offset)
    sample = sent[:: max(1, messages // 500)]
    states = Counter(client.get(f"/messages/{m}")["state"] for m in sample)
    got: Counter[str] = Counter()
    for sid in ids:
        for prompt in _received(home, sid):
            for word in prompt.split():
                if len(word) == 16:
                    got[word] += 1
    lost = sum(1 for m in sent if got[m] == 0)
    dup = sum(1 for m in sent if got[m] > 1)
    print(f"flood: {len(sent)} messages across {agents} scripted agents from {senders} sender "
          f"processes: accepted {len(sent) / accept_s:,.0f}/s, delivered "
          f"{len(sent) / total_s:,.0f}/s (all done in {total_s:.1f} s); lost {lost}, "
          f"duplicated {dup}; sampled states {dict(states)}")
    print(f"  daemon CPU {cpu:.1f} s = {cpu / len(sent) * 1000:.2f} ms per message; "
          f"tmux server CPU {tmux_cpu:.1f} s = {tmux_cpu / len(sent) * 1000:.2f} ms per message")
    print(f"  the agents with their hooks: CPU {agents_cpu:.1f} s = "
          f"{agents_cpu / len(sent) * 1000:.2f} ms per message")
    if lags:
        line("  event-loop lag while it ran (10 ms sleep)", stats(lags),
             extra=f"  p99 {percentile(lags, 0.99):.1f} ms, max {max(lags):.1f} ms")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--latency-runs", type=int, default=50)
    parser.add_argument("--senders", type=int, default=4, help="parallel sender processes")
    parser.add_argument("--sender", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sender:
        home, first, count, agents, out = args.sender
        _sender(home, int(first), int(count), int(agents), out)
        return
    with daemon(probe=True, SM_SCRIPTED_SPEED="0") as env:
        client = Client(home=env["SM_HOME"], token="", session_id="")
        latency(client, args.latency_runs)
        flood(client, env, args.agents, args.messages, args.senders)


if __name__ == "__main__":
    main()
