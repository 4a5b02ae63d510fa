"""What sm shows is what the agent does: interrupts, queued prompts, put-back prompts,
clears, and what a dead agent leaves behind — on the scripted agent, which behaves as
Claude Code 2.1.330 does there (tests/e2e has the same on the real CLIs)."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import pid_alive
from test_coordination import NO_NUDGES, said
from test_delivery import prompts, send

SLOW = {"match": "slow", "actions": [{"sleep": 200}, {"say": "slow done"}]}  # 10 s
TALK = {"match": "talk", "actions": [{"say": "talking"}, {"sleep": 200}, {"say": "talked"}]}
BG = {"match": "background", "actions": [
    {"run": "sleep 300 >/dev/null 2>&1 & echo $! > bg.pid"}, {"say": "started"},
    {"sleep": 400}]}


def _pid(path: Path, wait_until) -> int:
    wait_until(lambda: path.exists() and path.read_text().strip())
    return int(path.read_text())


def test_a_dead_agent_leaves_no_tool_process_behind(spawn, script_file, sm, sm_home,
                                                    wait_state, wait_until, tmux):
    work = sm_home / "work"
    work.mkdir()
    w = spawn("--name", "w", "--cwd", str(work), script=script_file({"rules": [BG]}))
    sm("send", "w", "background")
    bg = _pid(work / "bg.pid", wait_until)
    assert pid_alive(bg)
    pane = int(tmux("display-message", "-p", "-t", f"={w['tmux_session']}:",
                    "#{pane_pid}").stdout)
    import os
    import signal

    os.kill(pane, signal.SIGKILL)  # the agent dies with no hook; its tool's child lives on
    wait_state("w", "error", "exited", timeout=15)
    wait_until(lambda: not pid_alive(bg), timeout=10, message="the orphan to be ended")


def test_sm_kill_ends_the_agents_tool_processes(spawn, script_file, sm, sm_home, wait_until):
    work = sm_home / "work"
    work.mkdir()
    spawn("--name", "w", "--cwd", str(work), script=script_file({"rules": [BG]}))
    sm("send", "w", "background")
    bg = _pid(work / "bg.pid", wait_until)
    sm("kill", "w")
    wait_until(lambda: not pid_alive(bg), timeout=10, message="the tool's child to be ended")


def test_an_urgent_message_before_any_output_reclaims_the_prompt_put_back(
        spawn, script_file, sm, sm_json, sm_home, wait_state, wait_until):
    w = spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    first = send(sm, "w", "slow")
    wait_state("w", "running")
    urgent = send(sm, "w", "--urgent", "stop and do this")
    wait_until(lambda: sm_json("message", urgent["id"])["state"] == "delivered", timeout=15)
    # the interrupted prompt came back into the composer: sm queued it again, cleared the
    # composer, and types it once more after the urgent one — the agent gets each once
    wait_until(lambda: sm_json("message", first["id"])["state"] == "delivered", timeout=20)
    got = prompts(sm_home, w["id"])
    assert said(got, "slow") == [f"[sm {first['id']} from operator] slow"]
    assert said(got, "stop and do this") == [f"[sm {urgent['id']} from operator] stop and do this"]
    assert got.index(said(got, "stop and do this")[0]) < got.index(said(got, "slow")[0])
    events = sm_json("events", "w", "-n", "200")
    states = [e["payload"]["state"] for e in events
              if e["kind"] == "message" and e["payload"]["id"] == first["id"]]
    assert states == ["queued", "delivering", "delivered", "queued", "delivering", "delivered"]


def test_an_important_prompt_taken_mid_turn_keeps_the_agent_running_through_its_turn(
        spawn, script_file, sm, sm_json, as_session, sm_home, wait_state, wait_until,
        start_daemon):
    start_daemon(**NO_NUDGES)
    boss = spawn("--name", "boss")
    sm("spawn", "scripted", "--name", "w", "--script",
       str(script_file({"rules": [TALK, {"match": "extra", "actions": [
           {"sleep": 40}, {"say": "extra done"}]}]})), env=as_session(boss))
    wait_state("w", "idle")
    sm("send", "w", "talk", env=as_session(boss))  # notify-on-stop: parent → child
    wait_state("w", "running", where=lambda r: True)
    time.sleep(0.3)
    sm("send", "w", "--important", "extra", env=as_session(boss))
    # the first turn's Stop: the agent starts the owed turn at once, still running
    wait_until(lambda: (sm_json("status", "w")["last_message"] or "") == "talked", timeout=20)
    assert sm_json("status", "w")["state"] == "running"
    later = send(sm, "w", "after both")  # sequential: waits for the owed turn to end
    assert sm_json("message", later["id"])["state"] == "queued"
    wait_state("w", "idle", timeout=20,
               where=lambda r: (r["last_message"] or "").startswith("ok: [sm"))
    notices = said(prompts(sm_home, boss["id"]), "w stopped:")
    assert [n.split("w stopped: ", 1)[1] for n in notices] == ["talked", "extra done"]


def test_a_human_escape_ends_the_turn_and_the_queue_moves_on(
        spawn, script_file, sm, sm_json, wait_state, wait_until, tmux):
    w = spawn("--name", "w", script=script_file({"rules": [TALK]}))
    sm("send", "w", "talk")
    wait_state("w", "running")
    wait_until(lambda: "talking" in (tmux("capture-pane", "-p", "-t",
                                          f"={w['tmux_session']}:").stdout))
    queued = send(sm, "w", "next")
    tmux("send-keys", "-t", f"={w['tmux_session']}:", "Escape")  # no hook fires
    started = time.monotonic()
    wait_state("w", "idle", "running", timeout=5,
               where=lambda r: r["state"] == "idle" or sm_json("message", queued["id"])[
                   "state"] == "delivered")
    assert time.monotonic() - started < 2.0
    wait_until(lambda: sm_json("message", queued["id"])["state"] == "delivered", timeout=10)
