"""Session lifecycle through the real CLI: spawn, turns, kill, crash, exit, restore."""

from __future__ import annotations

import json
from pathlib import Path


def test_spawn_reaches_idle_and_is_listed(sm, sm_json, spawn, sm_home: Path) -> None:
    rec = spawn("--name", "alpha")
    assert rec["name"] == "alpha"
    assert rec["provider"] == "scripted"
    assert rec["state"] == "idle"
    assert rec["parent_id"] is None
    assert rec["cwd"] == str(sm_home.resolve())
    assert rec["tmux_session"] == f"sm-{rec['id']}"
    assert rec["conversation_id"]
    assert not [key for key in rec if "token" in key]  # never shown, not even hashed

    listed = sm_json("list")
    assert [(s["id"], s["name"], s["state"]) for s in listed] == [(rec["id"], "alpha", "idle")]

    status = sm("status", "alpha").stdout
    assert status.splitlines()[0] == f"alpha ({rec['id']}) scripted idle"
    assert f"cwd: {sm_home.resolve()}" in status

    me = sm("me")
    assert me.stdout.strip() == "operator (no session token)"
    assert sm_json("me") == {"operator": True}

    # the operator's `sm status` lists the live sessions
    other = spawn("--name", "beta")
    sm("kill", "beta")
    out = sm("status").stdout
    assert "alpha" in out and rec["id"] in out
    assert other["id"] not in out


def test_scripted_turn_moves_state_and_logs_events_in_order(
    sm, spawn, type_prompt, wait_state, events
) -> None:
    rec = spawn("--name", "turner")
    type_prompt(rec["id"], "hello there")
    done = wait_state("turner", "idle", where=lambda r: r["last_message"] is not None)
    assert done["last_message"] == "ok: hello there"

    log = events("turner")
    assert [(k, w) for k, w in events("turner", summary=True)] == [
        ("hook", "SessionStart"), ("state", "idle"),
        ("hook", "UserPromptSubmit"), ("state", "running"),
        ("hook", "Stop"), ("state", "idle"),
    ]
    seqs = [e["seq"] for e in log]
    assert seqs == sorted(seqs)
    # each state change names the signal that caused it and points at the hook fact
    for hook, change in zip(log[::2], log[1::2], strict=True):
        assert change["payload"]["signal"] == hook["payload"]["event"]
        assert change["payload"]["evidence"]["seq"] == hook["seq"]
    assert log[2]["payload"]["data"]["prompt"] == "hello there"
    assert [e["kind"] for e in events("turner", kinds=("spawned",))] == ["spawned"]
    assert done["transcript_path"].endswith(f"{done['conversation_id']}.jsonl")


def test_state_is_running_while_a_turn_is_in_progress(
    sm, spawn, script_file, type_prompt, wait_state, sm_home: Path, wait_until
) -> None:
    gate = sm_home / "gate"
    script = script_file({"rules": [{"match": "work", "actions": [
        {"say": "working"},
        {"run": f"while [ ! -e {gate} ]; do sleep 0.02; done"},
        {"say": "finished"},
    ]}]})
    rec = spawn("--name", "worker", script=script)
    type_prompt(rec["id"], "work please")
    running = wait_state("worker", "running")
    assert running["last_message"] is None
    gate.touch()
    done = wait_state("worker", "idle", where=lambda r: r["last_message"] == "finished")
    assert done["state"] == "idle"
    tools = json.loads(sm("tail", "worker", "--json").stdout)
    assert [t["tool"] for t in tools] == ["Bash"]
    assert str(gate) in tools[0]["input"]["command"]


def test_permission_prompt_waits_until_answered(
    spawn, script_file, type_prompt, wait_state, tmux
) -> None:
    script = script_file({"rules": [{"match": "risky", "actions": [
        {"permission": "Bash"}, {"say": "allowed and done"},
    ]}]})
    rec = spawn("--name", "asker", script=script)
    type_prompt(rec["id"], "do something risky")
    wait_state("asker", "waiting_permission")
    tmux("send-keys", "-t", f"=sm-{rec['id']}:", "1")
    done = wait_state("asker", "idle", where=lambda r: r["last_message"] == "allowed and done")
    assert done["state"] == "idle"


def test_kill_stops_the_session_and_its_tmux_session(sm, sm_json, spawn, tmux, events) -> None:
    rec = spawn("--name", "victim")
    assert tmux("has-session", "-t", f"=sm-{rec['id']}", check=False).returncode == 0
    out = sm("kill", "victim")
    assert out.stdout.strip() == "victim stopped"
    assert sm_json("status", rec["id"])["state"] == "stopped"
    assert tmux("has-session", "-t", f"=sm-{rec['id']}", check=False).returncode != 0
    kill = [e for e in events(rec["id"], kinds=("state",)) if e["payload"]["to"] == "stopped"]
    assert len(kill) == 1 and kill[0]["payload"]["signal"] == "kill"
    assert kill[0]["payload"]["evidence"]["by"] == "operator"
    # killing again is harmless and keeps the record
    assert sm_json("kill", rec["id"])["state"] == "stopped"
    assert [s["state"] for s in sm_json("list")] == ["stopped"]


def test_crash_records_error_and_keeps_the_last_screen(
    sm, spawn, script_file, type_prompt, wait_state, pane_exit
) -> None:
    script = script_file({"rules": [{"match": "crash", "actions": [
        {"say": "about to fall over"}, {"crash": 3},
    ]}]})
    rec = spawn("--name", "crasher", script=script)
    type_prompt(rec["id"], "please crash")
    assert pane_exit(rec["id"]) == 3
    dead = wait_state("crasher", "error")
    assert dead["exit_status"] == 3
    screen = sm("output", "crasher").stdout
    assert "please crash" in screen
    assert "about to fall over" in screen


def test_clean_exit_records_exited(sm, spawn, script_file, type_prompt, wait_state) -> None:
    script = script_file({"rules": [{"match": "bye", "actions": [
        {"say": "goodbye"}, {"exit": 0},
    ]}]})
    rec = spawn("--name", "leaver", script=script)
    type_prompt(rec["id"], "bye now")
    done = wait_state("leaver", "exited")
    assert done["exit_status"] in (None, 0)
    assert "goodbye" in sm("output", "leaver").stdout


def test_agent_that_cannot_start_is_error(sm, sm_json, wait_state) -> None:
    # the short sleep: tmux 3.3 drops output it has not read yet when the process has
    # already exited (it only drains a pane with a pipe-pane open), which a loaded
    # machine hits now and then with an echo right before an exit
    out = sm("spawn", "shell", "--name", "broken", "--",
             "sh", "-c", "echo no config; sleep 0.2; exit 2", check=False)
    assert out.returncode == 1
    assert "broken failed at once (error, exit status 2): no config" in out.stderr
    dead = wait_state("broken", "error")
    assert dead["exit_status"] == 2
    assert "no config" in sm("output", "broken").stdout


def test_spawn_with_a_prompt_runs_it_once(spawn, wait_state, events, sm_home: Path) -> None:
    rec = spawn("--name", "prompted", "write the tests", idle=False)
    done = wait_state("prompted", "idle", where=lambda r: r["last_message"] is not None)
    assert done["last_message"].startswith("ok: [sm ")
    assert done["last_message"].endswith(" from operator] write the tests")
    assert events("prompted", summary=True) == [
        ("hook", "SessionStart"), ("state", "idle"),
        ("hook", "UserPromptSubmit"), ("state", "running"),
        ("hook", "Stop"), ("state", "idle"),
    ]
    transcript = Path(done["transcript_path"])
    assert transcript.parent == sm_home / "sessions" / rec["id"] / "transcripts"
    assert len(transcript.read_text().splitlines()) == 2  # the prompt and the answer


def test_restore_resumes_the_conversation_without_rerunning_the_prompt(
    sm, sm_json, spawn, type_prompt, wait_state, session_env, events, sm_home: Path,
    wait_until,
) -> None:
    rec = spawn("--name", "phoenix", "remember the tide", idle=False)
    wait_state("phoenix", "idle",
               where=lambda r: (r["last_message"] or "").endswith("remember the tide"))
    old_env = session_env(rec["id"])
    sm("kill", "phoenix")

    restored = sm_json("restore", "phoenix")
    assert restored["id"] == rec["id"]
    back = wait_state("phoenix", "idle")
    assert back["conversation_id"] == rec["conversation_id"]
    conv = rec["conversation_id"]
    wait_until(lambda: f"Resumed conversation {conv}" in sm("output", "phoenix").stdout,
               message="the resumed banner")

    # a second turn after the restore: the resumed agent is live and driven by hooks
    type_prompt(rec["id"], "second thought")
    wait_state("phoenix", "idle", where=lambda r: r["last_message"] == "ok: second thought")
    transcript = sm_home / "sessions" / rec["id"] / "transcripts" / f"{conv}.jsonl"
    prompts = [json.loads(line).get("prompt") or "" for line in
               transcript.read_text().splitlines()]
    assert [p for p in prompts if p.endswith("remember the tide")] == [prompts[0]]
    assert prompts.count("second thought") == 1
    submitted = [e["payload"]["data"]["prompt"] for e in events("phoenix", kinds=("hook",))
                 if e["payload"]["event"] == "UserPromptSubmit"]
    assert submitted == [prompts[0], "second thought"]
    starts = [e["payload"]["data"]["source"] for e in events("phoenix", kinds=("hook",))
              if e["payload"]["event"] == "SessionStart"]
    assert starts == ["startup", "resume"]

    # the restored agent has a new token; the old one proves nothing any more
    new_env = session_env(rec["id"])
    assert new_env["SM_SESSION_TOKEN"] != old_env["SM_SESSION_TOKEN"]
    assert sm_json("me", env=new_env)["id"] == rec["id"]
    refused = sm("me", env=old_env, check=False)
    assert refused.returncode == 1
    assert "unknown session token" in refused.stderr


def test_restore_of_a_session_that_never_had_a_prompt(sm, sm_json, spawn, wait_state) -> None:
    rec = spawn("--name", "blank")
    sm("kill", "blank")
    sm("restore", "blank")
    back = wait_state("blank", "idle")
    assert back["id"] == rec["id"]
    assert "Resumed" not in sm("output", "blank").stdout


def test_restore_refuses_a_live_session(sm, spawn, sm_json) -> None:
    rec = spawn("--name", "alive")
    out = sm("restore", "alive", check=False)
    assert out.returncode == 1
    assert "only a dead session is restored" in out.stderr
    assert sm_json("status", rec["id"])["state"] == "idle"


def test_restore_of_a_crashed_session(
    sm, spawn, script_file, type_prompt, wait_state, pane_exit
) -> None:
    script = script_file({"rules": [{"match": "crash", "actions": [{"crash": 7}]}]})
    rec = spawn("--name", "lazarus", script=script)
    type_prompt(rec["id"], "crash now")
    assert pane_exit(rec["id"]) == 7
    wait_state("lazarus", "error")
    sm("restore", "lazarus")
    back = wait_state("lazarus", "idle")
    assert back["conversation_id"] == rec["conversation_id"]
    type_prompt(rec["id"], "are you back")
    wait_state("lazarus", "idle", where=lambda r: r["last_message"] == "ok: are you back")


def test_crash_is_noticed_without_tmux_pane_died(
    spawn, script_file, type_prompt, wait_state, tmux, wait_until
) -> None:
    script = script_file({"rules": [{"match": "crash", "actions": [{"crash": 3}]}]})
    rec = spawn("--name", "silent", script=script)
    tmux("set-hook", "-gu", "pane-died")  # the notification tmux sometimes never sends
    type_prompt(rec["id"], "please crash")
    wait_until(lambda: tmux("display-message", "-p", "-t", f"=sm-{rec['id']}:",
                            "#{pane_dead}").stdout.strip() == "1", message="the pane to die")
    dead = wait_state("silent", "error", "exited", timeout=3)
    assert (dead["state"], dead["exit_status"]) == ("error", 3)
