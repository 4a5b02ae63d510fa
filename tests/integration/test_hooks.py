"""sm's hook entry point: synchronous report, spool when the daemon is away, drained in
order (and once) when it comes back; never waits for EOF; always exits 0."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from pathlib import Path

from sm.agents.base import hook_command


def _spool(home: Path) -> list[dict]:
    path = home / "spool" / "hooks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_hook_applies_at_once_while_the_daemon_runs(
    sm_json, spawn, session_env, run_hook, sm_home: Path, events
) -> None:
    rec = spawn("--name", "hooked")
    env = session_env(rec["id"])
    conv = rec["conversation_id"]
    out = run_hook("UserPromptSubmit", {"session_id": conv, "prompt": "by hand"}, env=env)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert sm_json("status", "hooked")["state"] == "running"
    out = run_hook("Stop", {"session_id": conv, "last_assistant_message": "done by hand"},
                   env=env)
    assert out.returncode == 0
    after = sm_json("status", "hooked")
    assert (after["state"], after["last_message"]) == ("idle", "done by hand")
    assert _spool(sm_home) == []
    assert events("hooked", summary=True)[-4:] == [
        ("hook", "UserPromptSubmit"), ("state", "running"), ("hook", "Stop"), ("state", "idle")]


def test_hook_with_a_bad_token_exits_0_and_changes_nothing(
    sm_json, spawn, run_hook, events
) -> None:
    rec = spawn("--name", "guarded")
    before = events("guarded")
    out = run_hook("UserPromptSubmit", {"prompt": "forged"},
                   env={"SM_SESSION_ID": rec["id"], "SM_SESSION_TOKEN": "forged"})
    assert out.returncode == 0
    assert "unknown session token" in out.stderr
    assert sm_json("status", "guarded")["state"] == "idle"
    assert events("guarded") == before


def test_hooks_spool_while_the_daemon_is_down_and_apply_in_order(
    sm, sm_json, spawn, session_env, run_hook, sm_home: Path, events, stop_daemon
) -> None:
    rec = spawn("--name", "spooler")
    env = session_env(rec["id"])
    conv = rec["conversation_id"]
    last_seq = events("spooler")[-1]["seq"]
    stop_daemon()

    started = time.monotonic()
    out = run_hook("UserPromptSubmit", {"session_id": conv, "prompt": "while away"}, env=env)
    assert (out.returncode, out.stderr) == (0, "")
    out = run_hook("Stop", {"session_id": conv, "last_assistant_message": "did it offline"},
                   env=env)
    assert (out.returncode, out.stderr) == (0, "")
    assert time.monotonic() - started < 8.0  # well under two 5 s daemon timeouts
    spooled = _spool(sm_home)
    assert [r["event"] for r in spooled] == ["UserPromptSubmit", "Stop"]
    # each names its session and is signed with its token, which is never written
    assert all(r["session"] == rec["id"] and len(r["mac"]) == 64 and "token" not in r
               for r in spooled)
    assert env["SM_SESSION_TOKEN"] not in (sm_home / "spool" / "hooks.jsonl").read_text()
    assert len({r["id"] for r in spooled}) == 2
    assert sm_json("daemon", "status") == {"ok": False}, "a hook must never start the daemon"

    back = sm_json("status", "spooler")  # any command starts the daemon, which drains
    assert (back["state"], back["last_message"]) == ("idle", "did it offline")
    assert events("spooler", after=last_seq, summary=True) == [
        ("hook", "UserPromptSubmit"), ("state", "running"), ("hook", "Stop"), ("state", "idle")]
    assert _spool(sm_home) == []


def test_a_spooled_hook_is_applied_once_and_bad_lines_are_skipped(
    sm_json, spawn, session_env, run_hook, sm_home: Path, events, stop_daemon
) -> None:
    rec = spawn("--name", "once")
    env = session_env(rec["id"])
    last_seq = events("once")[-1]["seq"]
    stop_daemon()
    run_hook("UserPromptSubmit", {"prompt": "only once"}, env=env)
    path = sm_home / "spool" / "hooks.jsonl"
    line = path.read_text()
    forged = json.loads(line) | {"id": "forged-1"}
    # a retry of the same hook, a record whose signature no longer matches, a torn line
    with path.open("a") as f:
        f.write(line + json.dumps(forged) + "\n" + '{"event": "Stop", "tok\n')
    run_hook("Stop", {"last_assistant_message": "after the noise"}, env=env)

    back = sm_json("status", "once")
    assert (back["state"], back["last_message"]) == ("idle", "after the noise")
    assert events("once", after=last_seq, summary=True) == [
        ("hook", "UserPromptSubmit"), ("state", "running"), ("hook", "Stop"), ("state", "idle")]


def test_hook_does_not_wait_for_eof(
    sm_json, spawn, session_env, sm_env, sm_home: Path, stop_daemon
) -> None:
    rec = spawn("--name", "eof")
    env = {**sm_env, **session_env(rec["id"])}
    for daemon_up in (True, False):
        if not daemon_up:
            stop_daemon()
        proc = subprocess.Popen(
            [*shlex.split(hook_command()), "Stop"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=sm_home,
        )
        try:
            assert proc.stdin is not None
            message = f"daemon up: {daemon_up}"
            proc.stdin.write(json.dumps({"last_assistant_message": message}).encode())
            proc.stdin.flush()  # and keep stdin open, as an agent may
            try:
                code = proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                raise AssertionError("the hook waited for EOF on stdin") from None
            assert code == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
    assert [r["payload"]["last_assistant_message"] for r in _spool(sm_home)] == [
        "daemon up: False"]
    assert sm_json("status", "eof")["last_message"] == "daemon up: False"


def test_hook_reads_json_from_an_argument_and_fields(
    sm_json, spawn, session_env, sm_env, sm_home: Path
) -> None:
    """Codex's notify passes the JSON as the last argument."""
    rec = spawn("--name", "codexish")
    env = {**sm_env, **session_env(rec["id"])}
    payload = {"type": "agent-turn-complete", "thread-id": rec["conversation_id"],
               "last-assistant-message": "from notify"}
    out = subprocess.run([*shlex.split(hook_command()), "agent-turn-complete",
                          json.dumps(payload)], env=env, cwd=sm_home, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=10)
    assert out.returncode == 0, out.stderr
    assert sm_json("status", "codexish")["last_message"] == "from notify"


def test_hook_with_bad_json_exits_0(spawn, session_env, run_hook, sm_env, sm_home) -> None:
    rec = spawn()
    out = subprocess.run([*shlex.split(hook_command()), "Stop"], input="{not json",
                         env={**sm_env, **session_env(rec["id"])}, cwd=sm_home,
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert "not valid JSON" in out.stderr
