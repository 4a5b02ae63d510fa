"""Usage exactness against ground truth: the real Claude Code and Codex CLIs under sm, each
against a scripted model server that reports known, varied usage per response and keeps its
own sum. ``sm usage SESSION --json`` must equal the server's sum token for token.

``SM_USAGE_FIXTURES=DIR`` copies the agents' records and the server's sums there (how the
unit fixtures in ``tests/unit/fixtures/usage`` were recorded).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from model_servers import Bash, Fail, Text, Tool, Turn, Write

from sm.agents.usage import Tokens
from sm.core.prices import PriceTable

pytestmark = pytest.mark.e2e

Json = Callable[..., Any]
WINDOW = 5000  # a small window for claude-opus-5-5, so some requests cross 80 %


@pytest.fixture
def usage_env(sm_env: dict[str, str]) -> dict[str, str]:
    """Telemetry on (side requests counted apart), side requests allowed (session titles),
    a small context window."""
    sm_env.pop("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", None)
    sm_env["SM_USAGE_TELEMETRY"] = "1"
    sm_env["SM_USAGE_CONTEXT_WINDOWS"] = json.dumps({"claude-opus-5-5": WINDOW})
    return sm_env


def _claude_script(work: Path) -> list[Turn]:
    turns = [
        Turn("turn 1 ", [Text("one block"), Text("two blocks"), Text("three blocks")]),
        Turn("turn 2 ", [Bash("echo two", "say two"), Text("ran two")]),
        Turn("turn 3 ", [Write(str(work / "three.txt"), "3\n"), Text("wrote three")]),
        Turn("turn 4 ", [Tool("Agent", {"description": "helper", "prompt": "helper task four",
                                        "subagent_type": "general-purpose"}),
                         Text("the helper is on it")]),
        Turn("helper task four", [Bash("echo helper", "helper"), Text("helper done"),
                                  Text("helper summary")]),
        # Claude Code retries a 400 a few times, then gives up: StopFailure
        Turn("turn 5 ", [Fail(400, "invalid_request_error", "scripted bad request", repeat=20)]),
        Turn("turn 6 ", [Text("a"), Bash("echo six", "six"), Text("b"), Text("c")]),
    ]
    for n in range(7, 23):
        reply: list[Any] = [Text(f"answer {n}")]
        if n % 3 == 0:
            reply = [Bash(f"echo {n}", f"step {n}"), Text(f"first {n}"), Text(f"done {n}")]
        turns.append(Turn(f"turn {n} ", reply))
    return turns


@pytest.mark.usefixtures("claude_bin", "usage_env")
def test_claude_usage_equals_the_server_sum(spawn_agent, send, message_state, wait_state,
                                            sm_json, models, sm_home, events, wait_until):
    server = models.anthropic
    work = sm_home / "work"
    work.mkdir(exist_ok=True)
    server.add(*_claude_script(work))
    rec = spawn_agent("claude", "meter")
    for n in range(1, 23):
        m = send("meter", f"turn {n} please")
        message_state(m["id"], "delivered", timeout=30)
        wait_state("meter", "idle", timeout=60)

    def ours() -> dict[str, Any]:
        return sm_json("usage", "meter")

    def main_equal() -> dict[str, Any] | None:
        got = ours()
        return got if _claude_totals(got["total"]) == _claude_server(server.usage_sum()) else None

    got = wait_until(main_equal, timeout=30, message=lambda: (
        f"ours {_claude_totals(ours()['total'])} != server {_claude_server(server.usage_sum())}"))
    total = got["total"]
    assert total["responses"] >= 30  # tools, several blocks, a subagent: many responses
    assert total["cache_creation_1h_input_tokens"] and total["cache_creation_5m_input_tokens"]

    # the transcripts hold more usage lines than responses: they were deduplicated
    files = sorted((sm_home / "sessions" / rec["id"] / "claude" / "projects").rglob("*.jsonl"))
    assert any("subagents" in str(f) for f in files)
    lines = [json.loads(x) for f in files for x in f.read_text().splitlines() if x.strip()]
    usage_lines = [x for x in lines if x.get("type") == "assistant"
                   and isinstance(x.get("message"), dict) and x["message"].get("usage")
                   and not x.get("isApiErrorMessage")]
    assert len(usage_lines) > total["responses"]

    # the failed request: no usage, an error recorded (the API error and StopFailure)
    assert {r.failed for r in server.requests if r.failed} == {400}
    # one failure, as each channel reported it: the transcript, the hook, the telemetry
    assert got["errors"] == {"api_error": 1, "stop_failure": 1, "telemetry_api_error": 1}
    assert got["skipped_lines"] == 0

    # side requests (session titles) only telemetry saw: counted apart, equal to the server
    side_server = _claude_server(server.usage_sum(kinds=("side",)))
    assert side_server["responses"] >= 1
    got = wait_until(lambda: (g := ours()) and _claude_totals(g["side"]["total"]) == side_server
                     and g, timeout=20,
                     message=lambda: f"side {ours()['side']} != server {side_server}")
    assert got["side"]["total"]["cost_micros"] > 0

    # our prices are Claude Code's own, request by request (its telemetry carries its cost)
    prices = PriceTable()
    with sqlite3.connect(sm_home / "sm.db") as db:
        rows = db.execute(
            "SELECT model, input_tokens, output_tokens, cache_write_5m_tokens, "
            "cache_write_1h_tokens, cache_read_tokens, agent_cost_micros FROM usage_telemetry "
            "WHERE session_id = ?", (rec["id"],)).fetchall()
    assert len(rows) == total["responses"] + side_server["responses"]
    for model, i, o, w5, w1, r, theirs in rows:
        mine = prices.cost(model, Tokens(input=i, output=o, cache_write_5m=w5,
                                         cache_write_1h=w1, cache_read=r))
        assert mine is not None and abs(mine - theirs) <= 1, (model, mine, theirs)

    # context: the main conversation's last request, against the configured window
    last = [r for r in server.requests if r.kind in ("turn", "continue", "default")][-1].usage
    ctx = got["context"]
    assert ctx["tokens"] == (last["input_tokens"] + last["cache_creation_input_tokens"]
                             + last["cache_read_input_tokens"])
    assert ctx["window"] == WINDOW
    alerts = events("meter", kinds=("context",))
    assert alerts and all(a["payload"]["tokens"] >= 0.8 * WINDOW for a in alerts)
    _record_fixtures("claude", files, sm_home / "sessions" / rec["id"] / "claude" / "projects",
                     {"main": server.usage_sum(), "side": server.usage_sum(kinds=("side",))})


def _claude_totals(line: dict[str, Any]) -> dict[str, int]:
    return {k: line[k] for k in ("responses", "input_tokens", "output_tokens",
                                 "cache_creation_input_tokens", "cache_creation_5m_input_tokens",
                                 "cache_creation_1h_input_tokens", "cache_read_input_tokens")}


def _claude_server(s: dict[str, int]) -> dict[str, int]:
    return {
        "responses": s["responses"], "input_tokens": s.get("input_tokens", 0),
        "output_tokens": s.get("output_tokens", 0),
        "cache_creation_input_tokens": s.get("cache_creation_input_tokens", 0),
        "cache_creation_5m_input_tokens": s.get("ephemeral_5m_input_tokens", 0),
        "cache_creation_1h_input_tokens": s.get("ephemeral_1h_input_tokens", 0),
        "cache_read_input_tokens": s.get("cache_read_input_tokens", 0),
    }


def _record_fixtures(name: str, files: list[Path], root: Path, sums: dict[str, Any]) -> None:
    target = os.environ.get("SM_USAGE_FIXTURES")
    if not target:
        return
    out = Path(target) / name
    shutil.rmtree(out, ignore_errors=True)
    for f in files:
        dest = out / f.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    (out / "expected.json").write_text(json.dumps(sums, indent=1, sort_keys=True))


def _codex_script(work: Path) -> list[Turn]:
    turns = []
    for n in range(1, 23):
        reply: list[Any] = [Text(f"answer {n}")]
        if n % 3 == 0:
            reply = [Bash(f"echo {n}"), Text(f"ran {n}"), Bash(f"echo again {n}"),
                     Text(f"done {n}")]
        elif n % 4 == 0:
            reply = [Write(str(work / f"f{n}.txt"), f"{n}\n"), Text(f"wrote {n}")]
        turns.append(Turn(f"turn {n} ", reply))
    return turns


@pytest.mark.usefixtures("codex_bin")
def test_codex_usage_equals_the_server_sum(spawn_agent, send, message_state, wait_state,
                                           sm_json, models, sm_home, tmux, screen, wait_until):
    server = models.openai
    work = sm_home / "work"
    work.mkdir(exist_ok=True)
    server.add(*_codex_script(work))
    rec = spawn_agent("codex", "cmeter")
    for n in range(1, 23):
        if n == 12:  # fork the thread: the fork's running total starts at its parent's
            pane = f"={rec['tmux_session']}:"
            tmux("send-keys", "-t", pane, "-l", "/fork")
            wait_until(lambda: "fork the current" in screen("cmeter") or None, timeout=10,
                       message=lambda: screen("cmeter"))  # the command popup
            tmux("send-keys", "-t", pane, "Enter")
            wait_until(lambda: "Fork created" in screen("cmeter"), timeout=15,
                       message=lambda: screen("cmeter"))
        m = send("cmeter", f"turn {n} please")
        message_state(m["id"], "delivered", timeout=30)
        wait_state("cmeter", "idle", timeout=60,
                   where=lambda r, n=n: str(n) in (r["last_message"] or ""))

    rollouts = sorted((sm_home / "sessions" / rec["id"] / "codex" / "sessions").rglob("*.jsonl"))
    assert len(rollouts) == 2  # the thread and its fork
    fork = [f for f in rollouts if '"forked_from_id"' in f.read_text().splitlines()[0]]
    assert len(fork) == 1

    def ours() -> dict[str, Any]:
        return sm_json("usage", "cmeter")

    expected = _codex_server(server.usage_sum())
    got = wait_until(lambda: (g := ours()) and _codex_totals(g["total"]) == expected and g,
                     timeout=30, message=lambda: f"ours {_codex_totals(ours()['total'])} "
                                                 f"!= server {expected}")
    assert got["total"]["responses"] >= 40 and got["total"]["reasoning_output_tokens"] > 0
    # the title requests are not in any rollout: not counted, and said so
    assert server.usage_sum(kinds=("side",))["responses"] >= 1
    assert got["side"] is None
    # context: the last request's prompt, against the window the rollout states
    last = [r for r in server.requests if r.kind in ("turn", "continue", "default")][-1].usage
    assert got["context"]["tokens"] == last["input_tokens"]
    assert got["context"]["window"] and got["context"]["window"] > 100_000
    _record_fixtures("codex", rollouts, rollouts[0].parents[3],
                     {"main": server.usage_sum(), "side": server.usage_sum(kinds=("side",))})


def _codex_totals(line: dict[str, Any]) -> dict[str, int]:
    return {"responses": line["responses"],
            "input_tokens": line["input_tokens"] + line["cache_read_input_tokens"]
            + line["cache_creation_input_tokens"],
            "cached_tokens": line["cache_read_input_tokens"],
            "output_tokens": line["output_tokens"],
            "reasoning_tokens": line["reasoning_output_tokens"]}


def _codex_server(s: dict[str, int]) -> dict[str, int]:
    return {k: s.get(k, 0) for k in ("responses", "input_tokens", "cached_tokens",
                                      "output_tokens", "reasoning_tokens")}
