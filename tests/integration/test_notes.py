"""sm note through the real CLI and daemon: write/read/list/rm, who wrote what (an
agent's writes carry its identity), and a blocked watch woken within 100 ms of the
write that satisfies it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import SM_BIN

from sm.client import Client


@contextlib.contextmanager
def _watcher(sm_env: dict[str, str], sm_home: Path, *args: str
             ) -> Iterator[tuple[subprocess.Popen[str], list[tuple[str, float]]]]:
    """Run ``sm note watch ARGS --json``; its output line is timestamped on arrival."""
    with subprocess.Popen([str(SM_BIN), "note", "watch", *args, "--json"], env=sm_env,
                          cwd=sm_home, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, text=True) as proc:
        arrived: list[tuple[str, float]] = []

        def read() -> None:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            arrived.append((line, time.time()))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            yield proc, arrived
        finally:
            proc.kill()
            reader.join(5)


def _watching(sm_home: Path) -> int:
    data: dict[str, Any] = Client(home=str(sm_home), token="", session_id="").get("/notes")
    return int(data["watching"])


def test_a_watch_wakes_within_100_ms_of_the_write(sm, sm_env, sm_home: Path, sm_json,
                                                   wait_until) -> None:
    sm("daemon", "start")
    with _watcher(sm_env, sm_home, "build/status", "--until", "green") as (proc, arrived):
        wait_until(lambda: _watching(sm_home) == 1, message="the watch to block")
        sm("note", "write", "build/status", "red")  # not what it waits for
        assert _watching(sm_home) == 1 and not arrived
        sm("note", "write", "build/status", "green")
        wait_until(lambda: arrived, timeout=5, message="the watcher's answer")
        assert proc.wait(timeout=10) == 0
    line, at = arrived[0]
    data = json.loads(line)
    assert data["outcome"] == "matched" and data["note"]["value"] == "green"
    note = sm_json("note", "read", "build/status")
    assert note["version"] == 2
    assert at - note["updated_at"] < 0.1, f"woke {at - note['updated_at']:.3f}s after the write"


def test_a_prefix_watch_wakes_on_any_key_under_it(sm, sm_env, sm_home: Path,
                                                  wait_until) -> None:
    sm("daemon", "start")
    with _watcher(sm_env, sm_home, "--prefix", "team/") as (_, arrived):
        wait_until(lambda: _watching(sm_home) == 1, message="the watch to block")
        sm("note", "write", "other/plan", "x")
        sm("note", "write", "team/plan", "ship it")
        wait_until(lambda: arrived, timeout=5, message="the watcher's answer")
    assert json.loads(arrived[0][0])["note"]["key"] == "team/plan"


def test_write_read_list_remove_and_who_wrote(sm, sm_json, spawn, session_env) -> None:
    assert sm("note", "write", "plan", "-", input="line one\nline two\n").returncode == 0
    assert sm("note", "read", "plan").stdout == "line one\nline two\n\n"
    agent = spawn("--name", "writer")
    sm("note", "write", "team/status", "busy", env=session_env(agent["id"]))
    note = sm_json("note", "read", "team/status")
    assert (note["writer"], note["written_by"]) == ("writer", agent["id"])
    assert [n["key"] for n in sm_json("note", "list")] == ["plan", "team/status"]
    assert [n["key"] for n in sm_json("note", "list", "team/")] == ["team/status"]
    events = sm_json("events", "writer", "-n", "50")
    assert [e["payload"]["key"] for e in events if e["kind"] == "note"] == ["team/status"]
    sm("note", "rm", "plan")
    proc = sm("note", "read", "plan", check=False)
    assert proc.returncode == 1 and proc.stderr.strip() == "sm: no note 'plan'"
    proc = sm("note", "write", "bad key", "x", check=False)
    assert proc.returncode == 2 and "invalid note key 'bad key'" in proc.stderr
    proc = sm("note", "watch", "nothing", "--timeout", "0.2", check=False)
    assert proc.returncode == 1 and "timed out after 0.2s waiting for nothing" in proc.stdout


def test_the_agent_facing_commands_import_only_the_stdlib(
        spawn, sm_env, sm_home: Path, session_env) -> None:
    from test_fast_path import NAMED, _foreign, _imported

    rec = spawn("--name", "fast")
    env = {**sm_env, **session_env(rec["id"])}
    for args in (["note", "write", "k", "v"], ["note", "read", "k"], ["note", "list"],
                 ["note", "watch", "k", "--timeout", "0"],
                 ["kb", "learn", "Quick: the fast path stays fast"],
                 ["job", "done", "nothing"]):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sm", *args], env=env,
                             cwd=sm_home, capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
        imported = _imported(out.stderr)
        assert "sm" in imported, (args, out.stderr[-500:])
        assert (args, imported & NAMED) == (args, set())
        assert (args, _foreign(imported)) == (args, set())
