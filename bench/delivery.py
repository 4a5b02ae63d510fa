"""Message delivery: latency into an idle agent, and a flood across many agents.

    .venv/bin/python bench/delivery.py [--agents 20] [--messages 10000] [--latency-runs 50]

Prints figures; asserts nothing. Lost/duplicated counts come from the agents' own
transcripts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _harness import daemon, line, stats, wait_until  # noqa: E402

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


def flood(client: Client, home: str, agents: int, messages: int) -> None:
    ids = [_spawn(client, f"f{i}") for i in range(agents)]
    start = time.perf_counter()
    sent = []
    for k in range(messages):
        item = client.post("/messages", {"targets": [f"f{k % agents}"], "mode": "important",
                                         "body": f"flood {k}"})["items"][0]
        sent.append(item["id"])
    accept_s = time.perf_counter() - start

    def settled() -> bool:
        page = client.get("/messages", state="queued,delivering", limit=1)
        return not page["items"]

    wait_until(settled, timeout=3600, interval=0.5)
    total_s = time.perf_counter() - start
    sample = sent[:: max(1, messages // 500)]
    states = Counter(client.get(f"/messages/{m}")["state"] for m in sample)
    got = Counter()
    for sid in ids:
        for prompt in _received(home, sid):
            for word in prompt.split():
                if len(word) == 16:
                    got[word] += 1
    lost = sum(1 for m in sent if got[m] == 0)
    dup = sum(1 for m in sent if got[m] > 1)
    print(f"flood: {messages} messages across {agents} scripted agents: "
          f"accepted {messages / accept_s:,.0f}/s, delivered {messages / total_s:,.0f}/s "
          f"(all done in {total_s:.1f} s); lost {lost}, duplicated {dup}; "
          f"sampled states {dict(states)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--latency-runs", type=int, default=50)
    args = parser.parse_args()
    with daemon(SM_SCRIPTED_SPEED="0") as env:
        client = Client(home=env["SM_HOME"], token="", session_id="")
        latency(client, args.latency_runs)
        flood(client, env["SM_HOME"], args.agents, args.messages)


if __name__ == "__main__":
    main()
