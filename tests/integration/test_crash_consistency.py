"""Faults at random moments while messages flow — the daemon killed with SIGKILL, sm's
tmux server killed with every agent in it, the disk full (``limits.max_db_bytes``) for a
while — and after all of them: every accepted message ends delivered exactly once (by the
agents' own transcripts) or failed with a reason, and no session is left ``running``
after its agent went idle."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from test_delivery import prompts

from sm.config import tmux_socket_for

TRIALS = 100
AGENTS = 2


def _kill_daemon(home: Path) -> bool:
    try:
        pid = int((home / "daemon.pid").read_text())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        return False
    return True


def _kill_tmux(home: Path) -> None:
    subprocess.run(["tmux", "-L", tmux_socket_for(home), "kill-server"], capture_output=True,
                   timeout=10, stdin=subprocess.DEVNULL)


@pytest.mark.timeout(900)
def test_every_accepted_message_is_delivered_once_or_failed(
    sm, spawn, sm_home, sm_json, wait_until,
) -> None:
    config = sm_home / "config.yaml"
    agents = [spawn("--name", f"a{i}")["id"] for i in range(AGENTS)]
    ever = list(agents)
    rng = random.Random(20261122)
    accepted: list[str] = []
    faults: Counter[str] = Counter()
    full = False
    for trial in range(TRIALS):
        def burst(trial: int = trial) -> None:
            for k in range(3):
                proc = sm("send", f"a{(trial + k) % AGENTS}", f"trial {trial} msg {k}",
                          "--json", check=False)
                if proc.returncode == 0:
                    accepted.extend(m["id"] for m in json.loads(proc.stdout))

        sender = threading.Thread(target=burst)
        sender.start()
        time.sleep(rng.uniform(0.0, 0.25))
        roll = rng.random()
        if full and roll < 0.4:  # room again
            config.write_text("")
            full = False
            faults["disk freed"] += _kill_daemon(sm_home)
        elif not full and roll < 0.1:  # the disk fills: from the next daemon start on
            config.write_text("limits:\n  max_db_bytes: 1\n")
            full = True
            faults["disk full"] += _kill_daemon(sm_home)
        elif roll > 0.9:
            _kill_tmux(sm_home)
            faults["tmux killed"] += 1
        else:
            faults["daemon killed"] += _kill_daemon(sm_home)
        sender.join()
        if not full:
            # agents that died with their tmux server are replaced (the names are free)
            live = {s["name"] for s in sm_json("list") if s["state"] not in
                    ("exited", "error", "stopped")}
            for i in range(AGENTS):
                if f"a{i}" not in live:
                    proc = sm("spawn", "scripted", "--name", f"a{i}", "--json", check=False)
                    if proc.returncode == 0:
                        ever.append(json.loads(proc.stdout)["id"])
    config.write_text("")
    _kill_daemon(sm_home)
    print(f"faults: {dict(faults)}; accepted: {len(accepted)} of {3 * TRIALS}")
    assert faults["daemon killed"] >= TRIALS * 0.4
    assert faults["tmux killed"] >= 5 and faults["disk full"] >= 3

    def settled() -> list[dict[str, object]] | None:
        items = sm_json("messages", "-n", "1000")
        return None if any(m["state"] in ("queued", "delivering") for m in items) else items

    messages = wait_until(settled, timeout=180, interval=0.5,
                          message="every message to reach delivered or failed")
    by_id = {m["id"]: m for m in messages}
    assert set(accepted) <= set(by_id), "an acknowledged message is missing from the store"
    received: Counter[str] = Counter()
    for agent in ever:
        for prompt in prompts(sm_home, agent):
            for word in prompt.split():
                if word in by_id:
                    received[word] += 1
    assert all(count == 1 for count in received.values()), \
        {k: v for k, v in received.items() if v != 1}
    dead = {s["id"] for s in sm_json("list") if s["state"] in ("exited", "error", "stopped")}
    for message_id, m in by_id.items():
        if m["state"] == "delivered":
            # an agent killed with its tmux server may die between its receipt (the
            # UserPromptSubmit hook) and writing the prompt to its transcript
            assert received[message_id] == 1 or m["to"] in dead, m
        else:
            assert m["state"] in ("failed", "expired") and m["reason"], m
    delivered = sum(m["state"] == "delivered" for m in messages)
    print(f"messages: {len(messages)}, delivered {delivered}, failed or expired "
          f"{len(messages) - delivered}")
    assert delivered >= len(messages) * 0.5, f"{delivered}/{len(messages)} delivered"

    def idle() -> list[dict[str, object]] | None:
        live = [s for s in sm_json("list") if s["state"] not in ("exited", "error", "stopped")]
        return None if any(s["state"] != "idle" for s in live) else live or [{}]

    wait_until(idle, timeout=60, interval=0.5,
               message="every live session to be idle once its agent is")
