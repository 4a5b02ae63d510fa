"""The message queue against real scripted agents: what arrives, in what order, when.

The agents' own transcripts are the record of what they received.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sm.agents.scripted_transcript import received

SLOW = {"match": "slow", "actions": [{"say": "slow start"}, {"sleep": 40},
                                     {"say": "slow done"}]}


def prompts(sm_home: Path, session_id: str) -> list[str]:
    """Every prompt the agent received, across all its conversations, in order."""
    out = []
    for path in sorted((sm_home / "sessions" / session_id / "transcripts").glob("*.jsonl"),
                       key=lambda p: p.stat().st_mtime):
        out += received(str(path))
    return out


def send(sm: Callable[..., Any], *args: str, env: dict[str, Any] | None = None) -> dict[str, Any]:
    items = json.loads(sm("send", *args, "--json", env=env).stdout)
    assert len(items) == 1
    return items[0]


@pytest.fixture
def message_state(sm_json: Callable[..., Any], wait_until: Callable[..., Any]):
    def wait(message_id: str, *states: str, timeout: float = 10.0) -> dict[str, Any]:
        return wait_until(
            lambda: (m := sm_json("message", message_id))["state"] in states and m,
            timeout=timeout, message=lambda: f"message {message_id} to be {states}: "
            f"{ {k: v for k, v in sm_json('message', message_id).items() if k != 'body'} }",
        )
    return wait


def test_payloads_arrive_verbatim(sm, spawn, sm_home, message_state):
    agent = spawn("--name", "w")
    bodies = [
        "Enter",
        "C-a",
        "first line\nsecond line\n\n  indented — ünïcödé ✓ 日本語",
        "x" * 100_000,
    ]
    ids = [send(sm, "w", body)["id"] for body in bodies]
    for message_id in ids:
        message_state(message_id, "delivered", timeout=20)
    got = prompts(sm_home, agent["id"])
    assert got == [f"[sm {i} from operator] {b}" for i, b in zip(ids, bodies, strict=True)]


def test_control_characters_are_made_visible(sm, spawn, sm_home, message_state):
    agent = spawn("--name", "w")
    m = send(sm, "w", "bell\x07 and escape\x1b[31m")
    message_state(m["id"], "delivered")
    expected = f"[sm {m['id']} from operator] bell^G and escape^[[31m"
    assert prompts(sm_home, agent["id"]) == [expected]


def test_important_overtakes_queued_sequential(sm, spawn, sm_home, script_file, wait_state,
                                               message_state):
    agent = spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    slow = send(sm, "w", "slow")
    wait_state("w", "running")
    a = send(sm, "w", "seq A")
    b = send(sm, "w", "seq B")
    imp = send(sm, "w", "--important", "imp")
    message_state(imp["id"], "delivered")
    assert sm("message", a["id"], "--json").stdout and \
        json.loads(sm("message", a["id"], "--json").stdout)["state"] == "queued"
    for m in (a, b):
        message_state(m["id"], "delivered", timeout=20)
    ids = [p.split()[1] for p in prompts(sm_home, agent["id"])]
    assert ids == [slow["id"], imp["id"], a["id"], b["id"]]


def test_urgent_interrupts_and_never_interleaves(sm, spawn, sm_home, script_file, wait_state,
                                                 message_state, events):
    agent = spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    send(sm, "w", "slow")
    wait_state("w", "running")
    seq = send(sm, "w", "sequential one")
    urgent = send(sm, "w", "--urgent", "stop and do this")
    message_state(urgent["id"], "delivered")
    message_state(seq["id"], "delivered", timeout=20)
    got = prompts(sm_home, agent["id"])
    assert got[1:] == [f"[sm {urgent['id']} from operator] stop and do this",
                       f"[sm {seq['id']} from operator] sequential one"]
    signals = [e["payload"]["signal"] for e in events("w", kinds=("state",))]
    assert "interrupted" in signals


def test_never_types_into_a_permission_prompt(sm, spawn, sm_home, script_file, wait_state,
                                              message_state, tmux):
    script = script_file({"rules": [{"match": "risky", "actions": [
        {"permission": "Bash"}, {"say": "did it"}]}]})
    agent = spawn("--name", "w", script=script)
    send(sm, "w", "risky")
    wait_state("w", "waiting_permission")
    queued = send(sm, "w", "--important", "are you there")
    m = message_state(queued["id"], "queued")
    assert "permission" in (json.loads(sm("message", m["id"], "--json").stdout)["reason"] or "")
    assert len(prompts(sm_home, agent["id"])) == 1
    tmux("send-keys", "-t", f"=sm-{agent['id']}:", "1")
    message_state(queued["id"], "delivered", timeout=20)
    assert prompts(sm_home, agent["id"])[1].endswith("are you there")


def test_never_types_over_human_text(sm, spawn, sm_home, message_state, tmux, sm_json,
                                     wait_until):
    agent = spawn("--name", "w")
    target = f"=sm-{agent['id']}:"
    tmux("send-keys", "-t", target, "-l", "half typed by a human")
    wait_until(lambda: "half typed" in tmux("capture-pane", "-p", "-t", target).stdout)
    m = send(sm, "w", "from the queue")
    wait_until(lambda: "composer" in (sm_json("message", m["id"])["reason"] or ""))
    assert sm_json("message", m["id"])["state"] == "queued"
    tmux("send-keys", "-t", target, "C-u")
    message_state(m["id"], "delivered", timeout=20)
    assert prompts(sm_home, agent["id"]) == [f"[sm {m['id']} from operator] from the queue"]


def test_exactly_once_under_concurrent_stop_hooks(sm, spawn, sm_home, script_file, wait_state,
                                                  message_state, run_hook, session_env):
    agent = spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    send(sm, "w", "slow")
    wait_state("w", "running")
    sent = [send(sm, "w", f"job {i}") for i in range(5)]
    env = session_env(agent["id"])
    stop = {"hook_event_name": "Stop", "session_id": agent["conversation_id"],
            "last_assistant_message": "fake"}
    threads = [threading.Thread(target=run_hook, args=("Stop", stop), kwargs={"env": env})
               for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for m in sent:
        message_state(m["id"], "delivered", timeout=30)
    got = prompts(sm_home, agent["id"])
    for m in sent:
        assert sum(m["id"] in p for p in got) == 1


def test_dead_target_fails_fast(sm, spawn):
    spawn("--name", "w")
    sm("kill", "w")
    proc = sm("send", "w", "anyone?", check=False)
    assert proc.returncode == 1
    assert "failed" in proc.stdout and "stopped" in proc.stdout


def test_bad_messages_are_refused(sm, spawn):
    spawn("--name", "w")
    empty = sm("send", "w", "   ", check=False)
    assert empty.returncode == 2 and "empty" in empty.stderr
    unknown = sm("send", "nobody", "hi", check=False)
    assert unknown.returncode == 1 and "no session 'nobody'" in unknown.stderr
    big = sm("send", "w", "-", input="x" * 300_000, check=False)
    assert big.returncode == 2 and "limit" in big.stderr
    assert json.loads(sm("messages", "--json").stdout) == []


def test_notify_on_stop_fires_for_the_right_turn(sm, spawn, sm_home, script_file, wait_state,
                                                 session_env, wait_until):
    boss = spawn("--name", "boss")
    worker_script = script_file({"rules": [
        SLOW, {"match": "task two", "actions": [{"say": "result of task two"}]}]})
    worker = spawn("--name", "worker", script=worker_script)
    boss_env = session_env(boss["id"])
    send(sm, "worker", "slow")
    wait_state("worker", "running")
    # received mid-turn: the running turn's Stop ("slow done") is not this message's turn
    send(sm, "worker", "--important", "--notify-on-stop", "task two", env=boss_env)

    def notices() -> list[str]:
        return [p for p in prompts(sm_home, boss["id"]) if "worker stopped:" in p]

    found = wait_until(notices, timeout=30)
    assert len(found) == 1
    assert found[0].endswith("worker stopped: result of task two")
    assert all("slow done" not in p for p in prompts(sm_home, boss["id"]))
    assert worker["id"]


def test_no_redundant_notice_when_the_child_reported_back(sm, spawn, sm_home, script_file,
                                                         session_env, wait_until, sm_json):
    boss = spawn("--name", "boss")
    script = script_file({"rules": [{"match": "report", "actions": [
        {"run": "sm send boss 'done: reported myself'"}, {"say": "finished"}]}]})
    spawn("--name", "worker", script=script)
    m = send(sm, "worker", "--notify-on-stop", "report back", env=session_env(boss["id"]))
    wait_until(lambda: any("done: reported myself" in p for p in prompts(sm_home, boss["id"])),
               timeout=20)
    wait_until(lambda: sm_json("status", "worker")["state"] == "idle")
    wait_until(lambda: sm_json("message", m["id"])["state"] == "delivered")
    subprocess.run(["sleep", "0.5"], check=True)
    assert not any("worker stopped" in p for p in prompts(sm_home, boss["id"]))


def test_queued_messages_survive_a_daemon_kill(sm, spawn, sm_home, script_file, wait_state,
                                               message_state, tmux):
    import os
    import signal

    script = script_file({"rules": [{"match": "risky", "actions": [
        {"permission": "Bash"}, {"say": "did it"}]}]})
    agent = spawn("--name", "w", script=script)
    send(sm, "w", "risky")
    wait_state("w", "waiting_permission")
    queued = [send(sm, "w", f"later {i}") for i in range(3)]
    os.kill(int((sm_home / "daemon.pid").read_text()), signal.SIGKILL)
    tmux("send-keys", "-t", f"=sm-{agent['id']}:", "1")  # hooks spool while it is down
    for m in queued:
        message_state(m["id"], "delivered", timeout=30)
    got = prompts(sm_home, agent["id"])
    for m in queued:
        assert sum(m["id"] in p for p in got) == 1
