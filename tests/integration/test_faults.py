"""Faults that must not take sm down: bad bytes in the hook spool, a full disk, a daemon
that dies while another client starts one, a corrupt database."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def signed_line(sm_home: Path, session_id: str, token: str, event: str,
                payload: dict[str, Any], hook_id: str) -> bytes:
    """A spool line as the hook writes it (docs/hooks.md): the record, then the
    HMAC-SHA256 of its bytes keyed with the session's token."""
    body = (b'{"id":"%s","event":"%s","ts":1.0,"session":"%s","payload":'
            % (hook_id.encode(), event.encode(), session_id.encode()))
    body += json.dumps(payload).encode()
    mac = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return body + b',"mac":"' + mac.encode() + b'"}\n'


def _spool(sm_home: Path) -> Path:
    path = sm_home / "spool" / "hooks.jsonl"
    path.parent.mkdir(exist_ok=True)
    return path


def test_bad_spool_lines_at_start_are_skipped_and_the_rest_applied(
    sm, sm_json, spawn, session_env, sm_home: Path, stop_daemon,
) -> None:
    rec = spawn("--name", "spooled")
    token = str(session_env(rec["id"])["SM_SESSION_TOKEN"])
    stop_daemon()
    with _spool(sm_home).open("ab") as f:
        f.write(b"\xff\xfe not utf-8 at all\n")
        f.write(signed_line(sm_home, rec["id"], token, "UserPromptSubmit",
                            {"prompt": "by hand"}, "h1"))
        f.write(b'{"event": "Stop", "payl\n')  # torn
        f.write(b"[1, 2, 3]\n")  # JSON, not a record
        f.write(signed_line(sm_home, rec["id"], "not-its-token", "Stop", {}, "forged"))
    assert sm_json("status", "spooled")["state"] == "running"  # the daemon started
    log = (sm_home / "logs" / "daemon.log").read_text()
    assert "not UTF-8" in log and "not JSON" in log and "not a hook record" in log
    assert "not signed with its token" in log
    assert _spool(sm_home).read_bytes() == b""


def test_bad_spool_lines_while_running_never_stop_the_drain(
    sm, sm_json, spawn, session_env, sm_home: Path, wait_until,
) -> None:
    rec = spawn("--name", "live")
    token = str(session_env(rec["id"])["SM_SESSION_TOKEN"])
    with _spool(sm_home).open("ab") as f:
        f.write(b"\xff\n" + signed_line(sm_home, rec["id"], token, "UserPromptSubmit",
                                        {"prompt": "one"}, "w1"))
    wait_until(lambda: sm_json("status", "live")["state"] == "running", timeout=10,
               message="the first spooled hook")
    with _spool(sm_home).open("ab") as f:  # the drain is still alive for the next ones
        f.write(b'{"truncated\n' + signed_line(
            sm_home, rec["id"], token, "Stop", {"last_assistant_message": "two"}, "w2"))
    wait_until(lambda: sm_json("status", "live")["last_message"] == "two", timeout=10,
               message="the second spooled hook")


def test_a_full_store_refuses_clearly_and_sm_recovers(
    sm, sm_json, spawn, session_env, run_hook, sm_home: Path, stop_daemon, wait_until,
) -> None:
    """With the store full, `sm send` says so (507 storage_full, exit 2) and accepts
    nothing; a hook that meets the full store is spooled; once there is room the spooled
    hooks bring the session back to idle and the message accepted before is delivered."""
    rec = spawn("--name", "full")
    env = session_env(rec["id"])
    conv = rec["conversation_id"]
    run_hook("UserPromptSubmit", {"session_id": conv, "prompt": "a long task"}, env=env)
    assert sm_json("status", "full")["state"] == "running"
    queued = sm_json("send", "full", "after the task")[0]["id"]
    stop_daemon()
    (sm_home / "config.yaml").write_text("limits:\n  max_db_bytes: 1\n")

    big = "x" * 50_000
    out = sm("send", "full", big, check=False)
    assert out.returncode == 2, out.stderr
    assert "is full" in out.stderr and "limits.max_db_bytes" in out.stderr
    done = run_hook("Stop", {"session_id": conv, "last_assistant_message": big}, env=env)
    assert done.returncode == 0
    spooled = _spool(sm_home).read_bytes()
    assert b'"event":"Stop"' in spooled and b'"mac":"' in spooled
    assert sm_json("status", "full")["state"] == "running"

    stop_daemon()
    (sm_home / "config.yaml").write_text("")
    sm_json("status", "full")  # the daemon starts and drains the spool
    # the spooled Stop was applied (its message recorded), then the queue moved on
    stops = [e["payload"]["data"] for e in sm_json("events", "full", "-n", "200")
             if e["kind"] == "hook" and e["payload"]["event"] == "Stop"]
    assert big in [s.get("last_assistant_message") for s in stops]
    delivered = wait_until(lambda: sm_json("message", queued)["state"] == "delivered",
                           timeout=20, message="the message accepted before")
    assert delivered
    assert [m["body"] for m in sm_json("messages", "--to", "full")] == ["after the task"]


def test_a_client_that_lost_the_start_race_starts_the_daemon_again(
    sm, sm_json, sm_home: Path,
) -> None:
    """Another client's daemon holds the lock, then dies before it serves (right after
    this client's own start lost the race to it): this client must start one again
    rather than wait for nothing."""
    (sm_home / "logs").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(sm_home / 'daemon.lock')!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        f"out = {str(sm_home / 'logs' / 'daemon.out')!r}\n"
        "deadline = time.monotonic() + 20\n"
        "while time.monotonic() < deadline and not (\n"
        "        os.path.exists(out) and 'already runs' in open(out).read()):\n"
        "    time.sleep(0.02)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        assert sm_json("me") == {"operator": True}
        assert time.monotonic() - started < 15
    finally:
        holder.communicate(timeout=10)


def test_a_corrupt_database_is_named_in_the_error(sm, sm_home: Path) -> None:
    (sm_home / "sm.db").write_bytes(b"this is not sqlite " * 500)
    out = sm("list", check=False)
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "failed to start" in line and str(sm_home / "sm.db") in line, line
    assert "not a database" in line, line
    assert os.path.exists(sm_home / "sm.db")  # never removed or rewritten
