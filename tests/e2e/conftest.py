"""e2e fixtures: sm's real daemon, real tmux and real ``sm`` CLI (the integration layer's
fixtures) driving the real Claude Code and Codex CLIs against the scripted model servers.

The daemon is started by the first ``sm`` call with this environment, and the tmux server
it starts hands the same environment to every agent: that is how the agents find the fake
servers (``ANTHROPIC_BASE_URL``, sm's ``codex.base_url``) — sm adds nothing for tests.
``HOME`` is a temp directory, so no agent reads or links the real user's login.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import agents  # noqa: E402
from model_servers import AnthropicServer, OpenAIResponsesServer  # noqa: E402


def _integration_fixtures() -> Any:
    path = HERE.parent / "integration" / "conftest.py"
    spec = importlib.util.spec_from_file_location("sm_integration_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_it = _integration_fixtures()
# the generic fixtures, as the integration layer defines them (sm_env is ours, below)
sm_home = _it.sm_home
sm = _it.sm
sm_json = _it.sm_json
tmux_socket = _it.tmux_socket
tmux = _it.tmux
wait_state = _it.wait_state
session_env = _it.session_env
events = _it.events
Runner = _it.Runner


@dataclass
class Models:
    anthropic: AnthropicServer
    openai: OpenAIResponsesServer


@pytest.fixture
def models() -> Iterator[Models]:
    """Both fake model servers, empty scripts (tests ``add`` turns); unmatched prompts get
    "OK." — so a notification sm sends an agent is answered without a script."""
    with AnthropicServer(default_reply="OK.") as anthropic, \
            OpenAIResponsesServer(default_reply="OK.") as openai:
        yield Models(anthropic, openai)


def _need(binary: Path | None, name: str) -> Path:
    if binary is None:
        pytest.skip(f"the {name} CLI is not installed (run scripts/install-agent-clis.sh)")
    return binary


@pytest.fixture
def claude_bin() -> Path:
    return _need(agents.claude_bin(), "claude")


@pytest.fixture
def codex_bin() -> Path:
    return _need(agents.codex_bin(), "codex")


@pytest.fixture
def sm_env(sm_home: Path, models: Models) -> dict[str, str]:
    """The daemon's (and so every agent's) environment: nothing inherited that points at
    a real model service or a real home; the fake servers; the pinned CLIs; agents in
    bypass / YOLO mode unless a test asks for another permission mode."""
    home = sm_home / "home"
    home.mkdir()
    env = agents.clean_env()
    env = {k: v for k, v in env.items() if not k.startswith("SM_")}
    local = agents.agents_cli_dir() / "node_modules" / ".bin"
    env.update(
        HOME=str(home),
        SM_HOME=str(sm_home),
        ANTHROPIC_BASE_URL=models.anthropic.url,
        ANTHROPIC_API_KEY=agents.FAKE_ANTHROPIC_KEY,
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        IS_SANDBOX="1",  # as root, bypass mode exits at once without it
        OPENAI_API_KEY=agents.FAKE_OPENAI_KEY,
        SM_CLAUDE_BINARY=str(agents.claude_bin() or local / "claude"),
        SM_CLAUDE_PERMISSION_MODE="bypassPermissions",
        SM_CODEX_BINARY=str(agents.codex_bin() or local / "codex"),
        SM_CODEX_MODEL="gpt-5-codex",  # an unknown slug: classic tools, no model dialog
        SM_CODEX_BASE_URL=models.openai.url + "/v1",
        SM_CODEX_APPROVAL_POLICY="never",
        SM_CODEX_SANDBOX_MODE="danger-full-access",
    )
    return env


@pytest.fixture
def spawn_agent(
    sm_json: Callable[..., Any], wait_state: Callable[..., dict[str, Any]], sm_home: Path
) -> Callable[..., dict[str, Any]]:
    """``spawn_agent(provider, name, *args, env=None, idle=True)``: ``sm spawn`` a real
    agent in ``$SM_HOME/work`` and wait until it is idle; returns its record."""
    work = sm_home / "work"
    work.mkdir(exist_ok=True)

    def run(provider: str, name: str, *args: str, env: dict[str, str | None] | None = None,
            idle: bool = True) -> dict[str, Any]:
        rec: dict[str, Any] = sm_json("spawn", provider, "--name", name, "--cwd", str(work),
                                      *args, env=env)
        return wait_state(rec["id"], "idle", timeout=30) if idle else rec

    return run


@pytest.fixture
def message_state(
    sm_json: Callable[..., Any], wait_until: Callable[..., Any]
) -> Callable[..., dict[str, Any]]:
    """``message_state(id, *states, timeout=20)``: wait until the message is in a state."""

    def wait(message_id: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            nonlocal last
            last = sm_json("message", message_id)
            return last if last["state"] in states else None

        result: dict[str, Any] = wait_until(
            reached, timeout=timeout,
            message=lambda: f"message {message_id} to be {states}: "
                            f"{ {k: v for k, v in last.items() if k != 'body'} }")
        return result

    return wait


@pytest.fixture
def send(sm: Runner) -> Callable[..., dict[str, Any]]:
    """``send(target, body, *flags, env=None)``: ``sm send`` (the body on stdin); returns
    the accepted message."""

    def run(target: str, body: str, *flags: str,
            env: dict[str, str | None] | None = None) -> dict[str, Any]:
        out = sm("send", target, "-", *flags, "--json", input=body, env=env)
        items: list[dict[str, Any]] = json.loads(out.stdout)
        assert len(items) == 1
        return items[0]

    return run


@pytest.fixture
def screen(sm: Runner) -> Callable[[str], str]:
    """``screen(ref)``: the agent's pane as ``sm output`` shows it."""

    def read(ref: str) -> str:
        return sm("output", ref, "-n", "60").stdout

    return read
