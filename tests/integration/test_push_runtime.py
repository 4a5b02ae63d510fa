"""The daemon on the push runtime: no tmux client per message, and what happens when
the control client or the whole tmux server is killed under it."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def prompts(sm_home: Path, session_id: str) -> list[str]:
    """Every prompt the agent received (its own transcripts)."""
    out = []
    for path in (sm_home / "sessions" / session_id / "transcripts").glob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            if record.get("type") == "user":
                out.append(record["prompt"])
    return out


@pytest.fixture
def counted_tmux(sm_home: Path, sm_env: dict[str, str]) -> Path:
    """Make the daemon run tmux through a wrapper that logs every client it starts."""
    log = sm_home / "tmux-clients.log"
    wrapper = sm_home / "tmux-counted"
    real = shutil.which("tmux")
    assert real
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    sm_env["SM_TMUX_BINARY"] = str(wrapper)
    return log


def _ids(sm: Callable[..., Any], targets: str, body: str) -> list[str]:
    return [m["id"] for m in json.loads(sm("send", targets, body, "--json").stdout)]


def _control_clients(tmux: Callable[..., Any]) -> list[int]:
    out = tmux("list-clients", "-F", "#{client_pid} #{client_control_mode}").stdout
    return [int(pid) for pid, control in (line.split() for line in out.splitlines())
            if control == "1"]


def _received(sm_home: Path, session_ids: list[str]) -> Counter[str]:
    got: Counter[str] = Counter()
    for sid in session_ids:
        for prompt in prompts(sm_home, sid):
            got[prompt.split()[1]] += 1  # "[sm ID from …] body"
    return got


def test_delivery_forks_no_tmux_client_per_message(
    sm, spawn, sm_json, sm_home, counted_tmux, wait_until,
) -> None:
    agents = [spawn("--name", f"idle{i}")["id"] for i in range(4)]
    before = counted_tmux.read_text().splitlines()
    sent: list[str] = []
    for k in range(50):  # 4 targets a call: 200 messages
        sent += _ids(sm, "idle0,idle1,idle2,idle3", f"hello {k}")

    def all_delivered() -> bool:
        return not sm_json("messages", "--state", "queued,delivering", "-n", "1")
    wait_until(all_delivered, timeout=120, message="all 200 messages delivered")
    assert counted_tmux.read_text().splitlines() == before  # not one tmux client more
    got = _received(sm_home, agents)
    assert sorted(got) == sorted(sent) and set(got.values()) == {1}
    states = Counter(sm_json("message", m)["state"] for m in sent[::10])
    assert states == {"delivered": 20}


def test_a_killed_control_client_loses_and_doubles_nothing(
    sm, spawn, sm_json, sm_home, tmux, wait_until,
) -> None:
    agents = [spawn("--name", f"k{i}")["id"] for i in range(2)]
    first, = _control_clients(tmux)
    sent: list[str] = []
    for k in range(30):
        sent += _ids(sm, "k0,k1", f"before and after {k}")
        if k == 10:
            os.kill(first, signal.SIGKILL)

    def all_delivered() -> bool:
        return not sm_json("messages", "--state", "queued,delivering", "-n", "1")
    wait_until(all_delivered, timeout=120, message="all messages settled")
    got = _received(sm_home, agents)
    assert sorted(got) == sorted(sent) and set(got.values()) == {1}
    second, = wait_until(lambda: _control_clients(tmux), message="a new control client")
    assert second != first


def test_a_killed_tmux_server_marks_sessions_dead_and_restore_works(
    sm, spawn, sm_json, tmux, wait_state, events, message_state_any,
) -> None:
    spawn("--name", "doomed")
    spawn("--name", "quiet", "--", "sh", "-c", "echo hi; exec sleep 600", provider="shell",
          idle=False)
    wait_state("quiet", "idle", "running")
    tmux("kill-server")
    # the scripted agent reports its own end (SessionEnd); a shell has no hooks: sm
    # finds its tmux session gone and says so
    wait_state("doomed", "exited", timeout=20)
    wait_state("quiet", "error", timeout=20)
    why = [e["payload"]["evidence"] for e in events("quiet", kinds=("state",))
           if e["payload"]["to"] == "error"]
    assert why and "tmux server exited" in json.dumps(why)
    assert len(sm_json("list")) == 2  # the daemon keeps serving
    sm("restore", "doomed")
    wait_state("doomed", "idle", timeout=20)
    msg, = json.loads(sm("send", "doomed", "are you back", "--json").stdout)
    assert message_state_any(msg["id"], "delivered")["state"] == "delivered"
    sm("restore", "quiet")
    wait_state("quiet", "idle", "running", timeout=20)


@pytest.fixture
def message_state_any(sm_json: Callable[..., Any], wait_until: Callable[..., Any]):
    def wait(message_id: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        return wait_until(  # type: ignore[no-any-return]
            lambda: (m := sm_json("message", message_id))["state"] in states and m,
            timeout=timeout, message=lambda: f"message {message_id} to be {states}")
    return wait


def test_shell_activity_comes_from_pushed_output(
    sm, spawn, wait_state, events, sm_env, wait_until,
) -> None:
    sm_env["SM_SHELL_QUIESCENCE"] = "1"
    spawn("--name", "sh1", "--", "sh", "-c", "while read l; do echo got $l; done",
          provider="shell", idle=False)
    wait_state("sh1", "idle", timeout=20)
    sm("send", "sh1", "ping")

    def changes() -> list[tuple[str, str, Any]]:
        return [(e["payload"]["to"], e["payload"]["signal"],
                 e["payload"]["evidence"].get("tmux")) for e in events("sh1", kinds=("state",))]

    def active_then_quiet() -> list[tuple[str, str, Any]]:
        seen = changes()
        kinds = [c[:2] for c in seen]
        if ("running", "active") in kinds and kinds[-1] == ("idle", "quiet") \
                and kinds.index(("running", "active")) < len(kinds) - 1:
            return seen
        return []

    seen = wait_until(active_then_quiet, timeout=20, message="active, then quiet")
    assert ("running", "active", "output") in seen
