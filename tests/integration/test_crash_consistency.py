"""kill -9 the daemon at random moments while messages flow: every accepted message
ends delivered exactly once (by the agents' own transcripts) or failed with a reason."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path

from test_delivery import prompts

TRIALS = 50


def _kill_daemon(home: Path) -> bool:
    try:
        pid = int((home / "daemon.pid").read_text())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        return False
    return True


def test_every_accepted_message_is_delivered_once_or_failed(sm, spawn, sm_home, sm_json,
                                                           wait_until):
    agents = [spawn("--name", f"a{i}")["id"] for i in range(2)]
    rng = random.Random(20261122)
    accepted: list[str] = []
    kills = 0
    for trial in range(TRIALS):
        def burst(trial: int = trial) -> None:
            for k in range(4):
                target = f"a{(trial + k) % 2}"
                proc = sm("send", target, f"trial {trial} msg {k}", "--json", check=False)
                if proc.returncode == 0:
                    accepted.extend(m["id"] for m in json.loads(proc.stdout))

        sender = threading.Thread(target=burst)
        sender.start()
        time.sleep(rng.uniform(0.0, 0.25))
        kills += _kill_daemon(sm_home)
        sender.join()
    assert kills >= TRIALS * 0.8

    def settled() -> list[dict[str, object]] | None:
        items = sm_json("messages", "-n", "1000")
        return None if any(m["state"] in ("queued", "delivering") for m in items) else items

    messages = wait_until(settled, timeout=120, interval=0.5,
                          message="every message to reach delivered or failed")
    by_id = {m["id"]: m for m in messages}
    assert set(accepted) <= set(by_id), "an acknowledged message is missing from the store"
    received = Counter()
    for agent in agents:
        for prompt in prompts(sm_home, agent):
            for word in prompt.split():
                if word in by_id:
                    received[word] += 1
    assert all(count == 1 for count in received.values()), \
        {k: v for k, v in received.items() if v != 1}
    for message_id, m in by_id.items():
        if m["state"] == "delivered":
            assert received[message_id] == 1, m
        else:
            assert m["state"] == "failed" and m["reason"], m
    delivered = sum(m["state"] == "delivered" for m in messages)
    assert delivered >= len(messages) * 0.9, f"{delivered}/{len(messages)} delivered"
