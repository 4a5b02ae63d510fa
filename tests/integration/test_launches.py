"""Spawns after a rate limit, through the real daemon: while a provider is rate limited
its spawns are held (``sm spawn`` returns at once) and launched after the reset, paced
— and the same burst unpaced fails as it does in the field.

The scripted agents here share a ``start_limit`` (a test knob of the scripted agent,
docs/scripted-agent.md): a start fails when three others started in the two seconds
before it, the way ten agents started at once after a reset mostly fail."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

INTERVAL = 1.5  # SM_SPAWN_INTERVAL: at most 2 other starts in any 2 s


def _workers(script_file: Callable[..., Path], sm_home: Path) -> Path:
    return script_file({"start_limit": {"max": 3, "within": 2.0,
                                        "ledger": str(sm_home / "starts")}}, "worker.yaml")


def _spawn_ten(sm: Callable[..., Any], script: Path) -> list[tuple[Any, float]]:
    """Ten ``sm spawn`` at once, each from its own process: (its result, when it
    returned)."""
    def one(i: int) -> tuple[Any, float]:
        done = sm("spawn", "scripted", "--name", f"w{i}", "--script", str(script), "--json",
                  check=False)
        return done, time.time()

    with ThreadPoolExecutor(10) as pool:
        return list(pool.map(one, range(10)))


def test_spawns_after_a_rate_limit_wait_for_its_reset_then_start_staggered(
    sm, sm_json, start_daemon, spawn, script_file, type_prompt, wait_state, wait_until,
    sm_home: Path,
):
    start_daemon(SM_SPAWN_INTERVAL=str(INTERVAL), SM_SPAWN_MAX_STARTING="3",
                 SM_SPAWN_AFTER_RESET="120")
    limited = script_file({"rules": [
        {"match": "hit", "actions": [{"say": "working"}, {"fail": {"error": "rate_limit",
                                                                   "reset_in": 12}}]},
    ]}, "limited.yaml")
    a = spawn("--name", "limited", script=limited)
    type_prompt(a["id"], "hit the limit")
    rec = wait_state("limited", "idle",
                     where=lambda r: (r.get("failure") or {}).get("class") == "rate_limit")
    reset = rec["failure"]["reset_at"]
    until = time.strftime("%H:%M:%S", time.localtime(reset))

    # a message to the limited agent waits for the reset
    queued = json.loads(sm("send", "limited", "carry on", "--json").stdout)[0]
    waiting = wait_until(lambda: (m := sm_json("message", queued["id"]))["reason"] and m,
                         timeout=5)
    assert waiting["reason"] == f"rate limited until {until}"

    # ten spawns of the same provider, each from its own process: each returns at once,
    # held with its reason (on a slow machine the last ones may come after the reset:
    # then they are paced with the others)
    spawned = _spawn_ten(sm, _workers(script_file, sm_home))
    recs = []
    for done, returned in spawned:
        assert done.returncode == 0, done.stderr
        r = json.loads(done.stdout)
        if returned < reset:
            assert r["state"] == "starting", r
            assert r["launch_hold"]["reason"] == f"scripted is rate limited until {until}"
        recs.append((r, returned))
    early = [r for r, returned in recs if returned < reset]
    assert early, "no spawn came before the reset: the test's premise failed"
    assert "held: scripted " in sm("list").stdout
    shown = sm("show", early[-1]["id"]).stdout
    assert "launch: held: scripted is rate limited until" in shown \
        or "launch" not in shown, shown  # (launched meanwhile)

    # the message goes after the reset
    message = wait_until(lambda: (m := sm_json("message", queued["id"]))["state"]
                         == "delivered" and m, timeout=20)
    assert message["delivered_at"] >= reset

    # all ten reach idle, launched after the reset, one every INTERVAL seconds at least
    for r, _ in recs:
        wait_state(r["id"], "idle", timeout=60)
    launched = sm_json("events", "--kind", "launched", "-n", "100")
    by_session = {e["session_id"]: e for e in launched}
    times = sorted(by_session[r["id"]]["ts"] for r, _ in recs)
    assert times[0] >= reset
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= INTERVAL, gaps
    for r, returned in recs:  # a held spawn returned before its agent was launched
        event = by_session[r["id"]]
        if r["launch_hold"]:
            assert returned < event["ts"], (r["name"], returned, event["ts"])
            assert event["payload"]["held_for"] > 0
    assert not [r for r in sm_json("list") if r["state"] == "error"]


def test_the_same_burst_unpaced_mostly_fails_to_start(
    sm, sm_json, start_daemon, script_file, wait_until, sm_home: Path,
):
    start_daemon()
    spawned = _spawn_ten(sm, _workers(script_file, sm_home))

    def settled() -> list[dict[str, Any]] | None:
        items = [s for s in sm_json("list") if s["name"] and s["name"].startswith("w")]
        return items if all(s["state"] in ("idle", "error") for s in items) else None

    items = wait_until(settled, timeout=30)
    failed = [s for s in items if s["state"] == "error"]
    assert failed, "ten agents started at once: some must meet the start limit"
    assert len(failed) + sum(1 for s in items if s["state"] == "idle") == 10
    for s in failed:
        assert s["exit_status"] == 1
        assert "API Error: 429" in sm("output", s["id"]).stdout
    # sm spawn said so for each, naming the agent's last words
    refused = [done for done, _ in spawned if done.returncode != 0]
    assert refused and all("API Error: 429" in done.stderr for done in refused)
