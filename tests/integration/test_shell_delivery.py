"""Messages into a shell session: what is typed there runs, so a message is one command
line typed as given (no header), more lines are refused unless ``--raw``, and sm's own
notices are never typed into it."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import SM_BIN


@pytest.fixture
def shell(sm_env: dict[str, str], spawn: Callable[..., Any],
          wait_state: Callable[..., Any]) -> dict[str, Any]:
    sm_env["SM_SHELL_QUIESCENCE"] = "1"
    rec = spawn("--name", "sh", "--", "bash", "--norc", "--noprofile", "-i",
                provider="shell", idle=False)
    wait_state("sh", "idle", timeout=20)
    return rec  # type: ignore[no-any-return]


def _pane(tmux: Callable[..., Any], rec: dict[str, Any]) -> str:
    return str(tmux("capture-pane", "-p", "-S", "-200", "-t",
                    f"={rec['tmux_session']}:").stdout)


def test_a_message_is_typed_as_given_with_no_header(
    sm, shell, tmux, tmp_path: Path, wait_until,
) -> None:
    out = tmp_path / "out"
    msg, = json.loads(sm("send", "sh", f"echo hi > {out}", "--json").stdout)
    assert msg["kind"] == "text"
    wait_until(lambda: out.exists() and out.read_text() == "hi\n",
               message=lambda: f"the command to run; pane:\n{_pane(tmux, shell)}")
    screen = _pane(tmux, shell)
    assert "[sm " not in screen and "command not found" not in screen, screen
    assert json.loads(sm("message", msg["id"], "--json").stdout)["state"] == "delivered"


def test_more_than_one_line_is_refused_and_nothing_runs(
    sm, shell, tmux, tmp_path: Path, wait_until,
) -> None:
    pwned = tmp_path / "PWNED"
    proc = sm("send", "sh", "-", input=f"please review:\ntouch {pwned}\n", check=False)
    assert proc.returncode == 2, proc
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("sm: session sh is a shell")
    assert "--raw" in proc.stderr
    assert json.loads(sm("messages", "--to", "sh", "--json").stdout) == []
    # a line sent after it runs; had the refused text been queued, it would have run first
    done = tmp_path / "done"
    sm("send", "sh", f"touch {done}")
    wait_until(done.exists, message=lambda: f"the next line to run:\n{_pane(tmux, shell)}")
    assert not pwned.exists()
    # one line with its trailing newline (echo … | sm send sh -) is one line
    piped = tmp_path / "piped"
    sm("send", "sh", "-", input=f"touch {piped}\n")
    wait_until(piped.exists, message=lambda: _pane(tmux, shell))


def test_raw_types_every_line(
    sm, spawn, session_env, shell, tmux, tmp_path: Path, wait_until,
) -> None:
    stranger = spawn("--name", "stranger")
    nope = tmp_path / "nope"
    proc = sm("send", "--raw", "sh", f"touch {nope}", env=session_env(stranger["id"]),
              check=False)
    assert proc.returncode == 1 and "may not type raw text into sh" in proc.stderr, proc
    one, two = tmp_path / "one", tmp_path / "two"
    msg, = json.loads(sm("send", "--raw", "sh", f"touch {one}\ntouch {two}",
                         "--json").stdout)
    assert msg["kind"] == "raw"
    wait_until(lambda: one.exists() and two.exists(), message=lambda: _pane(tmux, shell))
    assert not nope.exists()


def test_sm_notices_are_never_typed_into_a_shell(
    sm, sm_json, shell, tmux, tmp_path: Path, wait_until,
) -> None:
    # the shell session arms a reminder for itself (its pane's process is that session)
    armed = tmp_path / "armed"
    sm("send", "sh", f"{shlex.quote(str(SM_BIN))} remind 1s ping-notice && touch {armed}")
    wait_until(armed.exists, message=lambda: _pane(tmux, shell))

    def notice() -> dict[str, Any] | None:
        return next((m for m in sm_json("messages", "--to", "sh")
                     if m["from"] == "sm"), None)

    msg = wait_until(notice, timeout=15, message=lambda: "the reminder to fire")
    assert msg["state"] == "cancelled"
    assert "never types them" in msg["reason"]
    assert "[sm " not in _pane(tmux, shell)


def test_a_childs_task_complete_is_not_typed_into_its_shell_parent(
    sm, sm_json, shell, spawn, session_env, tmux, tmp_path: Path, wait_until,
) -> None:
    spawned = tmp_path / "spawned"
    sm("send", "sh", f"{shlex.quote(str(SM_BIN))} spawn scripted --name kid > {spawned}")
    wait_until(lambda: spawned.exists() and "kid" in spawned.read_text(),
               message=lambda: _pane(tmux, shell))
    kid = sm_json("status", "kid")
    assert kid["parent_id"] == shell["id"]
    sm("task-complete", "all done", env=session_env(kid["id"]))
    msg, = [m for m in sm_json("messages", "--to", "sh") if m["sender_id"] == kid["id"]]
    assert msg["state"] == "cancelled" and "never types them" in msg["reason"]
    assert "task complete" not in _pane(tmux, shell)


def test_only_its_managers_send_into_a_shell(
    sm, shell, spawn, session_env, tmp_path: Path,
) -> None:
    """What reaches a shell runs there: another agent may not send it commands."""
    stranger = spawn("--name", "stranger")
    pwned = tmp_path / "PWNED"
    proc = sm("send", "sh", f"touch {pwned}", env=session_env(stranger["id"]), check=False)
    assert proc.returncode == 1 and "run commands in" in proc.stderr, proc
    assert json.loads(sm("messages", "--to", "sh", "--json").stdout) == []
    assert not pwned.exists()
