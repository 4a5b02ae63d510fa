"""Health through the real daemon: failure classes from StopFailure hooks and exits, a
rate limit that holds messages until its reset, and the stalled warning."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sm.agents.scripted_transcript import received


def prompts(sm_home: Path, session_id: str) -> list[str]:
    out = []
    for path in (sm_home / "sessions" / session_id / "transcripts").glob("*.jsonl"):
        out += received(str(path))
    return out


def test_failure_classes_from_stop_failures_and_exits(
    sm, sm_json, spawn, script_file, type_prompt, wait_state, events, wait_until,
):
    script = script_file({"rules": [
        {"match": "busy", "actions": [{"fail": "overloaded"}]},
        {"match": "login", "actions": [{"fail": {"error": "authentication_failed"}}]},
        {"match": "long", "actions": [{"fail": {"error": "invalid_request",
                                                "message": "Prompt is too long"}}]},
        {"match": "die", "actions": [{"crash": 3}]},
    ]})
    a = spawn("--name", "flaky", script=script)

    expected = [("busy", "overloaded"), ("login", "auth"), ("long", "context_limit")]
    for n, (prompt, cls) in enumerate(expected, 1):
        type_prompt(a["id"], prompt)
        rec = wait_state("flaky", "idle", where=lambda r, cls=cls: (r.get("failure") or {})
                         .get("class") == cls)
        assert rec["failure"]["at"] > 0
        health = wait_until(lambda n=n: (h := events("flaky", kinds=("health",)))[n - 1:]
                            and h, timeout=10)
        assert health[-1]["payload"]["check"] == "failure"
        assert health[-1]["payload"]["class"] == cls
        assert health[-1]["payload"]["signal"] == "StopFailure"
    assert "Prompt is too long" in rec["failure"]["detail"]
    shown = sm("show", "flaky").stdout
    assert "last failure: context_limit" in shown and "Prompt is too long" in shown

    # a non-zero exit: a crash
    type_prompt(a["id"], "die now")
    dead = wait_state("flaky", "error", timeout=15)
    assert dead["failure"]["class"] == "crash"
    assert dead["failure"]["detail"] == "exit status 3"
    crash = [e["payload"] for e in events("flaky", kinds=("health",))][-1]
    assert (crash["class"], crash["signal"]) == ("crash", "pane-died")


def test_a_tool_error_is_recorded_only(sm_json, spawn, run_hook, session_env, events,
                                       wait_until):
    a = spawn("--name", "tooler")
    payload = {"session_id": a["conversation_id"], "hook_event_name": "PostToolUseFailure",
               "tool_name": "Bash", "tool_input": {"command": "false"},
               "error": "Exit code 1", "is_interrupt": False}
    done = run_hook("PostToolUseFailure", payload, env=session_env(a["id"]))
    assert done.returncode == 0, done.stderr
    health = wait_until(lambda: events("tooler", kinds=("health",)) or None, timeout=10)
    assert health[0]["payload"]["class"] == "tool_error"
    assert health[0]["payload"]["detail"] == "Bash: Exit code 1"
    assert sm_json("status", "tooler")["failure"] is None  # not the session's failure


def test_a_rate_limit_holds_messages_until_its_reset(
    sm, sm_json, spawn, script_file, type_prompt, wait_state, events, wait_until,
    sm_home: Path,
):
    script = script_file({"rules": [
        {"match": "hit", "actions": [{"say": "working"}, {"fail": {"error": "rate_limit",
                                                                   "reset_in": 3}}]},
    ]})
    a = spawn("--name", "limited", script=script)
    type_prompt(a["id"], "hit the limit")
    rec = wait_state("limited", "idle",
                     where=lambda r: (r.get("failure") or {}).get("class") == "rate_limit")
    reset = rec["failure"]["reset_at"]
    assert time.time() < reset <= time.time() + 4.5
    health = events("limited", kinds=("health",))[-1]["payload"]
    assert health["class"] == "rate_limit" and health["reset_at"] == reset
    assert "until" in sm("show", "limited").stdout

    # sent meanwhile: it waits, its reason names the reset
    queued = json.loads(sm("send", "limited", "carry on", "--json").stdout)[0]
    until = time.strftime("%H:%M:%S", time.localtime(reset))
    held = wait_until(lambda: (m := sm_json("message", queued["id"]))["reason"] and m,
                      timeout=5)
    assert held["state"] == "queued", held
    assert held["reason"] == f"rate limited until {until}"
    assert time.time() < reset  # still before the reset

    # the hold lifts by itself at the reset: delivered, and the agent answers it
    done = wait_until(lambda: (m := sm_json("message", queued["id"]))["state"] == "delivered"
                      and m, timeout=10)
    assert done["delivered_at"] >= reset
    wait_until(lambda: "carry on" in " ".join(prompts(sm_home, a["id"])), timeout=10)
    wait_state("limited", "idle", where=lambda r: "carry on" in (r["last_message"] or ""))


def test_a_stalled_session_is_told_once_per_stall(
    sm, start_daemon, spawn, script_file, type_prompt, wait_state, events, wait_until,
):
    start_daemon(SM_HEALTH_STALLED_AFTER="2")
    # sleeps last 5 % as long in tests: 100 → 5 s, 400 → 20 s, with nothing shown
    script = script_file({"rules": [
        {"match": "hang", "actions": [{"say": "thinking"}, {"sleep": 100}, {"say": "back"},
                                      {"sleep": 400}]},
    ]})
    a = spawn("--name", "sleepy", script=script)
    assert not events("sleepy", kinds=("health",))
    type_prompt(a["id"], "hang on")
    wait_state("sleepy", "running")
    stalled = wait_until(lambda: events("sleepy", kinds=("health",)) or None, timeout=10)
    assert len(stalled) == 1
    p = stalled[0]["payload"]
    assert p["check"] == "stalled" and p["quiet_for"] >= 2
    assert p["detail"].startswith("running with no hook and no output for ")
    # new output ("back") ends that stall; the quiet after it is a second one
    second = wait_until(lambda: (h := events("sleepy", kinds=("health",)))[1:] and h,
                        timeout=15)
    assert second[1]["payload"]["since"] > p["since"]
    assert second[1]["ts"] - stalled[0]["ts"] >= 2.5  # not repeated while the first went on
    assert "back" in sm("output", "sleepy").stdout
    sm("kill", "sleepy")
