"""The coordination layer through the real CLI, against scripted agents: wait, remind,
status and its nudges, task-complete, clear, handoff, dispatch, em and its digest,
children / alone / others, the demo — and what survives a daemon restart.

The agents' own transcripts are the record of what they received.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sm.agents.scripted_transcript import received

SLOW = {"match": "slow", "actions": [{"say": "slow start"}, {"sleep": 40},
                                     {"say": "slow done"}]}  # 2 s at the tests' speed
LONG = {"match": "long", "actions": [{"say": "long start"}, {"sleep": 100},
                                     {"say": "long done"}]}  # 5 s
NO_NUDGES = {"SM_REMIND_SOFT": "0", "SM_REMIND_HARD": "0", "SM_REMIND_DIGEST": "0"}


def prompts(sm_home: Path, session_id: str, conversation: str | None = None) -> list[str]:
    """Every prompt the agent received (in one conversation, or all), in order."""
    out = []
    files = sorted((sm_home / "sessions" / session_id / "transcripts").glob("*.jsonl"),
                   key=lambda p: p.stat().st_mtime)
    for path in files:
        if conversation and path.stem != conversation:
            continue
        out += received(str(path))
    return out


def said(prompts_: list[str], text: str) -> list[str]:
    return [p for p in prompts_ if text in p]


@pytest.fixture
def explain(sm: Callable[..., Any]) -> Callable[[str], Callable[[], str]]:
    """``explain(ref)``: a wait_until message showing the session's messages and events."""
    def make(ref: str) -> Callable[[], str]:
        def text() -> str:
            msgs = json.loads(sm("messages", "--to", ref, "--json", "-n", "100").stdout)
            lines = [f"{m['id']} {m['mode']} {m['state']} {m['reason']} {m['body'][:50]!r}"
                     for m in msgs]
            log = sm("events", ref, "-n", "60", check=False).stdout
            return "\nmessages:\n" + "\n".join(lines) + "\nevents:\n" + log
        return text
    return make


# -- sm wait ----------------------------------------------------------------------------------
def test_wait_returns_when_idle_and_times_out_while_running(sm, spawn, script_file,
                                                            wait_state):
    spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    out = sm("wait", "w", "--timeout", "5")
    assert out.stdout.strip() == "w is idle"
    sm("send", "w", "slow")
    wait_state("w", "running")
    late = sm("wait", "w", "--timeout", "0.3", check=False)
    assert late.returncode == 1 and late.stdout.startswith("timed out after 0s: w is running")
    started = time.monotonic()
    assert sm("wait", "w", "--timeout", "20").stdout.strip() == "w is idle"
    assert time.monotonic() - started < 10
    assert sm("status", "w", "--json").stdout and wait_state("w", "idle")


def test_wait_is_not_idle_right_after_an_urgent_message(sm, spawn, script_file, wait_state,
                                                        sm_json, sm_home):
    agent = spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    sm("send", "w", "slow")
    wait_state("w", "running")
    urgent = json.loads(sm("send", "w", "--urgent", "stop and do this", "--json").stdout)[0]
    now = sm("wait", "w", "--timeout", "0", check=False)
    assert now.returncode == 1, now.stdout
    assert "undelivered" in now.stdout or "running" in now.stdout
    assert sm("wait", "w", "--timeout", "20").returncode == 0
    # idle means the urgent message was delivered and its turn ended
    assert sm_json("message", urgent["id"])["state"] == "delivered"
    assert prompts(sm_home, agent["id"])[-1].endswith("stop and do this")
    assert sm_json("status", "w")["last_message"].endswith("stop and do this")


def test_wait_covers_a_prompt_taken_mid_turn(sm, spawn, script_file, wait_state, sm_json,
                                            as_session, events, wait_until):
    boss = spawn("--name", "boss")
    quick = {"match": "quick", "actions": [{"sleep": 20}, {"say": "quick done"}]}
    spawn("--name", "w", script=script_file({"rules": [SLOW, quick]}))
    sm("send", "w", "slow")
    wait_state("w", "running")
    m = json.loads(sm("send", "w", "--important", "quick", "--json").stdout)[0]
    wait_state("w", "running", where=lambda r: sm_json("message", m["id"])["state"] ==
               "delivered")
    sm("wait", "w", "--notify", env=as_session(boss))
    assert sm("wait", "w", "--timeout", "20").stdout.strip() == "w is idle"
    # the agent worked on the queued prompt after the slow turn's Stop, with no new hook
    assert sm_json("status", "w")["last_message"] == "quick done"
    notice = wait_until(lambda: [n for n in sm_json("messages", "--to", "boss")
                                 if "[sm wait]" in n["body"]])
    stops = [e["ts"] for e in events("w", kinds=("hook",)) if e["payload"]["event"] == "Stop"]
    assert len(notice) == 1 and len(stops) == 2 and notice[0]["created_at"] >= stops[-1]


def test_wait_on_a_dead_session_returns_at_once(sm, spawn):
    spawn("--name", "w")
    sm("kill", "w")
    out = sm("wait", "w", "--timeout", "30", check=False)
    assert out.returncode == 1 and out.stdout.strip() == "w is stopped"


def test_wait_notify_tells_the_caller_later(sm, spawn, script_file, wait_state, as_session,
                                            sm_home, wait_until):
    boss = spawn("--name", "boss")
    spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    sm("send", "w", "slow")
    wait_state("w", "running")
    started = time.monotonic()
    sm("wait", "w", "--notify", "--timeout", "0.5", env=as_session(boss))
    sm("wait", "w", "--notify", "--timeout", "60", env=as_session(boss))
    assert time.monotonic() - started < 2  # both returned at once
    got = wait_until(lambda: said(prompts(sm_home, boss["id"]), "is idle"), timeout=20)
    assert got == [got[0]] and got[0].endswith("[sm wait] w is idle")
    timed_out = said(prompts(sm_home, boss["id"]), "timed out")
    assert len(timed_out) == 1 and timed_out[0].endswith("[sm wait] w timed out after 0s")
    # from the operator there is nobody to tell
    refused = sm("wait", "w", "--notify", check=False)
    assert refused.returncode == 2 and "from an agent" in refused.stderr


# -- sm remind --------------------------------------------------------------------------------
def test_remind_once_recurring_and_cancel(sm, spawn, as_session, sm_home, wait_until, sm_json,
                                          explain):
    w = spawn("--name", "w")
    me = as_session(w)
    once = sm("remind", "1s", "check", "the", "build", "--json", env=me)
    assert json.loads(once.stdout)["every"] is None
    tick = json.loads(sm("remind", "1s", "tick", "--recurring", "--json", env=me).stdout)
    listed = sm_json("reminders", env=me)
    assert {r["kind"] for r in listed} == {"remind"} and len(listed) == 2
    wait_until(lambda: len(said(prompts(sm_home, w["id"]), "[sm remind] tick")) >= 2,
               timeout=15, message=explain("w"))
    sm("remind", "cancel", tick["id"][:6], env=me)
    count = len(said(prompts(sm_home, w["id"]), "[sm remind] tick"))
    time.sleep(2.5)
    assert len(said(prompts(sm_home, w["id"]), "[sm remind] tick")) <= count + 1
    assert len(said(prompts(sm_home, w["id"]), "[sm remind] check the build")) == 1
    assert sm_json("reminders", env=me) == []
    # delivered important, from sm
    modes = {m["mode"] for m in sm_json("messages", "--to", "w") if "[sm remind]" in m["body"]}
    assert modes == {"important"}
    again = sm("remind", "cancel", tick["id"], env=me, check=False)
    assert again.returncode == 1 and "cancelled" in again.stderr
    bad = sm("remind", "5x", "text", env=me, check=False)
    assert bad.returncode == 2 and "invalid delay '5x'" in bad.stderr
    operator = sm("remind", "5m", "text", check=False)
    assert operator.returncode == 2 and "from an agent" in operator.stderr


def test_a_recurring_reminder_never_piles_up_behind_a_stuck_agent(
        sm, spawn, script_file, wait_state, as_session, sm_json, tmux, wait_until):
    risky = {"match": "risky", "actions": [{"permission": "Bash"}, {"say": "did it"}]}
    w = spawn("--name", "w", script=script_file({"rules": [risky]}))
    sm("send", "w", "risky")
    wait_state("w", "waiting_permission")
    sm("remind", "0.5s", "tick", "--recurring", env=as_session(w))

    def ticks() -> list[dict[str, Any]]:
        return [m for m in sm_json("messages", "--to", "w") if "tick" in m["body"]]

    wait_until(ticks)
    time.sleep(2.5)  # five rounds fall due while the first notice cannot be typed
    assert [m["state"] for m in ticks()] == ["queued"]
    tmux("send-keys", "-t", f"=sm-{w['id']}:", "1")
    wait_until(lambda: len([m for m in ticks() if m["state"] == "delivered"]) >= 2, timeout=15)


def test_reminder_and_watcher_survive_a_daemon_restart(sm, spawn, script_file, wait_state,
                                                       as_session, sm_home, wait_until,
                                                       stop_daemon, start_daemon):
    boss = spawn("--name", "boss")
    w = spawn("--name", "w", script=script_file({"rules": [SLOW]}))
    armed = time.monotonic()
    sm("remind", "5s", "after the restart", env=as_session(w))
    sm("send", "w", "slow")
    wait_state("w", "running")
    sm("wait", "w", "--notify", "--timeout", "120", env=as_session(boss))
    stop_daemon()
    # the reminder falls due and w's turn ends while no daemon runs
    time.sleep(max(0.0, armed + 5.5 - time.monotonic()))
    assert not said(prompts(sm_home, w["id"]), "after the restart")
    start_daemon()
    wait_until(lambda: said(prompts(sm_home, w["id"]), "[sm remind] after the restart"),
               timeout=20)
    wait_until(lambda: said(prompts(sm_home, boss["id"]), "[sm wait] w is idle"), timeout=20)
    time.sleep(1.0)
    assert len(said(prompts(sm_home, w["id"]), "after the restart")) == 1
    assert len(said(prompts(sm_home, boss["id"]), "[sm wait]")) == 1


def test_notify_on_stop_survives_a_daemon_restart(sm, spawn, script_file, wait_state,
                                                  as_session, sm_home, wait_until,
                                                  stop_daemon, start_daemon, sm_json):
    boss = spawn("--name", "boss")
    spawn("--name", "w", script=script_file({"rules": [LONG]}))
    m = json.loads(sm("send", "w", "--notify-on-stop", "long", "--json",
                      env=as_session(boss)).stdout)[0]
    wait_until(lambda: sm_json("message", m["id"])["state"] == "delivered")
    stop_daemon()
    start_daemon()  # the turn ends while no daemon runs, or after it is back
    notices = wait_until(lambda: said(prompts(sm_home, boss["id"]), "w stopped:"), timeout=30)
    time.sleep(1.0)
    assert said(prompts(sm_home, boss["id"]), "w stopped:") == notices
    assert len(notices) == 1 and notices[0].endswith("w stopped: long done")


# -- status, nudges, task-complete ------------------------------------------------------------
def test_status_text_and_the_rule_for_sm_status(sm, spawn, as_session, sm_json, events):
    spawn("--name", "boss")
    w = spawn("--name", "w")
    me = as_session(w)
    assert sm("status", "boss", env=me).stdout.startswith("boss (")  # names a session: shows
    assert sm("status", "writing the parser", env=me).stdout.strip() == \
        "status: writing the parser"
    assert sm("status", "thinking", env=me).stdout.strip() == "status: thinking"
    assert sm("status", "--set", "boss", env=me).stdout.strip() == "status: boss"
    assert sm_json("status", "w")["status_text"] == "boss"
    texts = [e["payload"]["text"] for e in events("w", kinds=("status",))]
    assert texts == ["writing the parser", "thinking", "boss"]
    nobody = sm("status", "nobody-here", check=False)  # the operator has no status line
    assert nobody.returncode == 1 and "no session 'nobody-here'" in nobody.stderr


def test_status_nudges_soft_then_hard_reset_by_status_ended_by_task_complete(
        sm, spawn, as_session, sm_json, sm_home, wait_until, start_daemon):
    start_daemon(SM_REMIND_SOFT="1", SM_REMIND_HARD="2.5", SM_REMIND_DIGEST="0")
    boss = spawn("--name", "boss")
    sm("spawn", "scripted", "--name", "w", env=as_session(boss))
    w = wait_until(lambda: (r := sm_json("status", "w"))["state"] == "idle" and r)
    sm("dispatch", "w", "--role", "engineer", "--task", "write the parser",
       env=as_session(boss))

    def nudges(kind: str) -> list[dict[str, Any]]:
        text = "update your status with" if kind == "soft" else "no status update for"
        return [m for m in sm_json("messages", "--to", "w", "-n", "500") if text in m["body"]]

    wait_until(lambda: nudges("hard"), timeout=15)
    assert {m["mode"] for m in nudges("soft")} == {"important"}
    assert {m["mode"] for m in nudges("hard")} == {"urgent"}
    assert nudges("hard")[0]["created_at"] - nudges("soft")[0]["created_at"] >= 1.0
    # a status change resets both
    set_at = sm_json("status", "reading the code", env=as_session(w))["updated_at"]
    wait_until(lambda: [m for m in nudges("soft") if m["created_at"] > set_at], timeout=10)
    after = [m for m in nudges("soft") if m["created_at"] > set_at]
    assert after[0]["created_at"] - set_at >= 0.9
    # task-complete tells the parent once and ends the nudges
    sm("task-complete", "parser", "written", env=as_session(w))
    assert sm_json("reminders", env=as_session(w)) == []
    assert sm_json("status", "w")["status_text"] == "task complete: parser written"
    wait_until(lambda: said(prompts(sm_home, boss["id"]), "task complete"), timeout=10)
    count = len(nudges("soft")) + len(nudges("hard"))
    time.sleep(3)
    assert len(nudges("soft")) + len(nudges("hard")) <= count + 1  # one may be in flight
    told = said(prompts(sm_home, boss["id"]), "task complete")
    assert len(told) == 1 and told[0].endswith("[sm] w task complete: parser written")


def test_turn_complete_is_recorded(sm, spawn, as_session, events):
    w = spawn("--name", "w")
    sm("turn-complete", env=as_session(w))
    assert [e["kind"] for e in events("w", kinds=("turn_complete",))] == ["turn_complete"]
    assert sm("turn-complete", check=False).returncode == 2


# -- clear and handoff ------------------------------------------------------------------------
def test_clear_by_the_parent_is_confirmed_and_a_stranger_is_refused(
        sm, spawn, as_session, sm_json, sm_home, wait_until, start_daemon):
    start_daemon(**NO_NUDGES)
    boss = spawn("--name", "boss")
    stranger = spawn("--name", "stranger")
    sm("spawn", "scripted", "--name", "w", env=as_session(boss))
    w = wait_until(lambda: (r := sm_json("status", "w"))["state"] == "idle" and r)
    sm("send", "w", "old task")
    wait_until(lambda: "old task" in (sm_json("status", "w")["last_message"] or ""))
    refused = sm("clear", "w", env=as_session(stranger), check=False)
    assert refused.returncode == 1 and "may not clear w" in refused.stderr
    out = json.loads(sm("clear", "w", "fresh", "start", "--json", env=as_session(boss)).stdout)
    assert out["clear"]["kind"] == "clear" and out["prompt"]
    wait_until(lambda: sm_json("message", out["prompt"]["id"])["state"] == "delivered")
    after = sm_json("status", "w")
    assert after["conversation_id"] != w["conversation_id"]
    assert sm_json("message", out["clear"]["id"])["state"] == "delivered"
    assert prompts(sm_home, w["id"], after["conversation_id"]) == [
        f"[sm {out['prompt']['id']} from boss] fresh start"]
    assert all("old task" not in p for p in prompts(sm_home, w["id"], after["conversation_id"]))


def test_no_notify_on_stop_leaks_from_the_task_before_a_clear(
        sm, spawn, script_file, as_session, sm_json, sm_home, wait_until, wait_state,
        start_daemon):
    start_daemon(**NO_NUDGES)
    boss = spawn("--name", "boss")
    sm("spawn", "scripted", "--name", "w", "--script",
       str(script_file({"rules": [SLOW]})), env=as_session(boss))
    wait_state("w", "idle")
    sm("send", "w", "slow", env=as_session(boss))  # parent → child: notify-on-stop
    wait_state("w", "running")
    sm("remind", "1s", "old task reminder", env=as_session(sm_json("status", "w")))
    sm("clear", "w", "--urgent", "task", "two", env=as_session(boss))
    notices = wait_until(lambda: said(prompts(sm_home, boss["id"]), "w stopped:"), timeout=20)
    time.sleep(1.5)
    assert said(prompts(sm_home, boss["id"]), "w stopped:") == notices
    assert len(notices) == 1 and notices[0].endswith(" task two")
    assert "slow" not in notices[0]
    w = sm_json("status", "w")
    assert not said(prompts(sm_home, w["id"], w["conversation_id"]), "old task reminder")


def test_handoff_clears_at_the_end_of_the_turn_and_starts_over(sm, spawn, script_file,
                                                               sm_json, sm_home, wait_until):
    (sm_home / "next.md").write_text("continue with part two\n")
    script = script_file({"rules": [
        {"match": "hand over", "actions": [
            {"run": "sm handoff next.md"}, {"sleep": 10}, {"say": "handing over"}]},
        {"match": "part two", "actions": [{"say": "on part two"}]},
    ]})
    w = spawn("--name", "w", script=script)
    sm("send", "w", "hand over")
    done = wait_until(lambda: (r := sm_json("status", "w"))["last_message"] == "on part two"
                      and r, timeout=20)
    assert done["conversation_id"] != w["conversation_id"]
    old = prompts(sm_home, w["id"], w["conversation_id"])
    new = prompts(sm_home, w["id"], done["conversation_id"])
    assert len(old) == 1 and old[0].endswith("hand over")
    assert len(new) == 1 and new[0].rstrip().endswith("from w] continue with part two")
    transcript = (sm_home / "sessions" / w["id"] / "transcripts" /
                  f"{w['conversation_id']}.jsonl").read_text()
    assert "handing over" in transcript  # the turn finished before the clear
    assert sm("handoff", "next.md", check=False).returncode == 2  # the operator has no turn


# -- dispatch ---------------------------------------------------------------------------------
ROLES = {"roles": {
    "tester": {"required": ["task"], "optional": {"level": "unit"},
               "template": "Test {task} at the {level} level; report to {parent}. "
                           "{{literal}} and {not a field} stay."},
    "broken": {"template": "Needs {undeclared}"},
}}


def test_dispatch_expands_templates_and_names_bad_parameters(sm, spawn, sm_home):
    import yaml

    (sm_home / ".sm").mkdir()
    (sm_home / ".sm" / "dispatch_templates.yaml").write_text(yaml.safe_dump(ROLES))
    spawn("--name", "w")
    dry = sm("dispatch", "w", "--role", "tester", "--task", "the parser", "--level=e2e",
             "--dry-run")
    assert dry.stdout.strip() == ("Test the parser at the e2e level; report to operator. "
                                  "{literal} and {not a field} stay.")
    default = sm("dispatch", "w", "--role", "engineer", "--task", "x", "--dry-run").stdout
    assert "You are w, an engineer dispatched by operator." in default
    unknown = sm("dispatch", "w", "--role", "tester", "--task", "t", "--colour", "red",
                 check=False)
    assert unknown.returncode == 2 and "unknown parameter(s) --colour" in unknown.stderr
    missing = sm("dispatch", "w", "--role", "tester", check=False)
    assert missing.returncode == 2 and "missing required parameter(s) --task" in missing.stderr
    broken = sm("dispatch", "w", "--role", "broken", check=False)
    assert broken.returncode == 2 and "{undeclared}" in broken.stderr
    no_role = sm("dispatch", "w", "--role", "juggler", "--task", "t", check=False)
    assert no_role.returncode == 2 and "unknown role 'juggler'" in no_role.stderr
    assert "engineer" in no_role.stderr and "tester" in no_role.stderr
    dangling = sm("dispatch", "w", "--role", "tester", "--task", check=False)
    assert dangling.returncode == 2 and "--task needs a value" in dangling.stderr
    assert json.loads(sm("messages", "--json").stdout) == []  # nothing was sent


def test_dispatch_clears_sends_and_notifies_with_the_right_turn(
        sm, spawn, script_file, as_session, sm_json, sm_home, wait_until, wait_state,
        start_daemon):
    start_daemon(**NO_NUDGES)
    boss = spawn("--name", "boss")
    script = script_file({"rules": [
        {"match": "old job", "actions": [{"say": "old result"}]},
        {"match": "the parser", "actions": [{"sleep": 10}, {"say": "parser tested"}]},
    ]})
    sm("spawn", "scripted", "--name", "w", "--script", str(script), env=as_session(boss))
    w = wait_state("w", "idle")
    sm("send", "w", "old job")  # from the operator: nobody to notify
    wait_until(lambda: sm_json("status", "w")["last_message"] == "old result")
    out = json.loads(sm("dispatch", "w", "--role", "engineer", "--task", "test the parser",
                        "--json", env=as_session(boss)).stdout)
    assert out["session"]["role"] == "engineer"
    notices = wait_until(lambda: said(prompts(sm_home, boss["id"]), "w stopped:"), timeout=20)
    time.sleep(0.5)
    assert said(prompts(sm_home, boss["id"]), "w stopped:") == notices
    assert len(notices) == 1 and notices[0].endswith("w stopped: parser tested")
    now = sm_json("status", "w")
    assert now["conversation_id"] != w["conversation_id"]
    new = prompts(sm_home, w["id"], now["conversation_id"])
    assert len(new) == 1 and "Task: test the parser" in new[0]
    kinds = [m["kind"] for m in sm_json("messages", "--to", "w")]
    assert kinds == ["text", "clear", "text"]
    stranger = spawn("--name", "stranger")
    refused = sm("dispatch", "w", "--role", "engineer", "--task", "x",
                 env=as_session(stranger), check=False)
    assert refused.returncode == 1 and "may not dispatch to w" in refused.stderr


# -- em and the digest ------------------------------------------------------------------------
def test_em_arms_the_digest_and_flags_no_progress(sm, spawn, as_session, sm_json, sm_home,
                                                  wait_until, start_daemon):
    start_daemon(SM_REMIND_SOFT="0", SM_REMIND_HARD="0", SM_REMIND_DIGEST="1.5")
    boss = spawn()
    for name in ("c1", "c2"):
        sm("spawn", "scripted", "--name", name, env=as_session(boss))
    c1 = wait_until(lambda: (r := sm_json("status", "c1"))["state"] == "idle" and r)
    wait_until(lambda: sm_json("status", "c2")["state"] == "idle")
    sm("status", "step one", env=as_session(c1))
    out = json.loads(sm("em", "lead", "--json", env=as_session(boss)).stdout)
    assert out["session"]["name"] == "lead" and out["session"]["role"] == "orchestrator"
    assert [c["name"] for c in out["children"]] == ["c1", "c2"]

    def digests() -> list[str]:
        return said(prompts(sm_home, boss["id"]), "[sm digest]")

    first = wait_until(digests, timeout=10)[0]
    assert "2 children of lead:" in first
    assert "c1 (idle): step one — NO PROGRESS" in first
    assert "c2 (idle): no status yet — NO PROGRESS" in first
    sm("status", "step two", env=as_session(c1))
    moved = wait_until(lambda: [d for d in digests() if "step two" in d], timeout=10)[0]
    assert "c1 (idle): step two\n" in moved + "\n" and "c1 (idle): step two —" not in moved
    assert "c2 (idle): no status yet — NO PROGRESS" in moved
    assert sm("em", check=False).returncode == 2  # the operator is nobody's orchestrator


# -- children, alone, others ------------------------------------------------------------------
def test_children_alone_and_others(sm, spawn, as_session, sm_json, sm_home, wait_until):
    boss = spawn("--name", "boss")
    for name in ("c1", "c2"):
        sm("spawn", "scripted", "--name", name, env=as_session(boss))
    c1 = wait_until(lambda: (r := sm_json("status", "c1"))["state"] == "idle" and r)
    sm("spawn", "scripted", "--name", "g", env=as_session(c1))
    assert [s["name"] for s in sm_json("children", env=as_session(boss))] == ["c1", "c2"]
    assert [s["name"] for s in sm_json("children", "boss", "--recursive")] == ["c1", "g", "c2"]
    sm("kill", "c2")
    assert [s["name"] for s in sm_json("children", "boss")] == ["c1"]
    assert [s["name"] for s in sm_json("children", "boss", "--all")] == ["c1", "c2"]

    repo_a, repo_b = sm_home / "a", sm_home / "b"
    for repo in (repo_a, repo_b):
        repo.mkdir()
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo_a / "sub").mkdir()
    x = spawn("--name", "x", "--cwd", str(repo_a))
    y = spawn("--name", "y", "--cwd", str(repo_a / "sub"))
    z = spawn("--name", "z", "--cwd", str(repo_b))
    not_alone = sm("alone", env=as_session(x), check=False)
    assert not_alone.returncode == 1 and "y" in not_alone.stdout
    others = sm_json("others", env=as_session(x))
    assert others["repo"] == str(repo_a.resolve())
    assert [s["name"] for s in others["items"]] == ["y"]
    assert sm("alone", env=as_session(z)).returncode == 0
    sm("kill", "y")
    assert sm("alone", env=as_session(x)).stdout.startswith("alone in ")
    assert y and z


# -- the demo ---------------------------------------------------------------------------------
def test_demo_runs_the_whole_loop_and_cleans_up_what_it_started(
    sm, sm_json, sm_home, tmux, daemon_pid
):
    started = time.monotonic()
    out = sm("demo", "--timeout", "40", timeout=60)
    assert "demo complete" in out.stdout
    assert "Both workers reported: demo complete." in out.stdout.replace("\n", " ")
    assert time.monotonic() - started < 30
    assert out.stdout.rstrip().endswith(
        "stopped the team and the daemon; sm demo --keep leaves them running")
    # it started the daemon, so it stopped it, and sm's tmux server with it
    assert daemon_pid() is None
    assert tmux("list-sessions", check=False).returncode != 0
    assert list((sm_home / "demo").iterdir()) == []
    assert {s["state"] for s in sm_json("list")} == {"stopped"}
    assert len(sm_json("list")) == 3


def test_demo_leaves_a_running_daemon_running(sm, sm_json, daemon_pid):
    sm("daemon", "start")
    pid = daemon_pid()
    out = sm("demo", "--timeout", "40", timeout=60)
    assert out.stdout.rstrip().endswith("stopped the team; sm demo --keep leaves them running")
    assert daemon_pid() == pid
    assert sm("list", "--live").stdout.startswith("no live sessions")


def test_demo_keep_leaves_the_team_and_its_hint_stops_all_of_it(sm, sm_json, sm_env, tmux):
    out = sm("demo", "--keep", "--timeout", "40", timeout=60)
    assert len([s for s in sm_json("list") if s["state"] == "idle"]) == 3
    hint = out.stdout.strip().splitlines()[-1]
    assert hint.startswith("stop it all: sm kill --tree em-") and hint.endswith(
        " && sm daemon stop")
    path = f"{Path(sys.executable).parent}:{sm_env['PATH']}"  # this checkout's sm
    subprocess.run(hint.removeprefix("stop it all: "), shell=True, check=True,
                   env={**sm_env, "PATH": path}, capture_output=True, timeout=60)
    assert tmux("list-sessions", check=False).returncode != 0
    assert {s["state"] for s in sm_json("list")} == {"stopped"}  # (starts a daemon again)
