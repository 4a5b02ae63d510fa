"""The real Claude Code CLI calls sm's MCP tools: sm configures its MCP server for the
agents it spawns, and the daemon records each call under the calling session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from model_servers import Text, Tool, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("claude_bin")]


def tool_results(models: Any) -> list[dict[str, Any]]:
    """Every tool_result block the model got back (each once: requests repeat them)."""
    out: dict[str, dict[str, Any]] = {}
    for req in models.anthropic.requests:
        body = req.body if isinstance(req.body, dict) else {}
        for message in body.get("messages") or []:
            content = message.get("content")
            if isinstance(content, list):
                out.update((b["tool_use_id"], b) for b in content
                           if b.get("type") == "tool_result")
    return list(out.values())


def test_claude_calls_sm_tools_as_itself(
    spawn_agent: Callable[..., dict[str, Any]], sm_json: Callable[..., Any],
    wait_state: Callable[..., dict[str, Any]], models: Any,
) -> None:
    models.anthropic.add(Turn("report progress", [
        Tool("mcp__sm__status", {"text": "halfway through the parser"}),
        Tool("mcp__sm__send", {"targets": ["peer"], "body": "parser is half done"}),
        Text("reported"),
    ]))
    peer = spawn_agent("claude", "peer")
    rec = spawn_agent("claude", "m1")
    sm_json("send", "m1", "report progress through sm")
    wait_state("m1", "idle", timeout=60, where=lambda r: r["last_message"] == "reported")
    # the model is told of sm's tools by their MCP names, with the server's instructions
    # (Claude Code 2.1.330 defers MCP tools behind its ToolSearch: they are named in a
    # reminder once the server is connected, not in the request's tool list)
    told = " ".join(r.raw_json for r in models.anthropic.requests if r.kind == "continue")
    for name in ("mcp__sm__status", "mcp__sm__send", "mcp__sm__lock", "mcp__sm__wait"):
        assert name in told
    assert "agent-facing operations" in told
    results = tool_results(models)
    assert len(results) == 2 and not any(r.get("is_error") for r in results), results
    # the daemon did both as m1: its own status line, a message from it
    assert sm_json("status", "m1")["status_text"] == "halfway through the parser"
    [msg] = [m for m in sm_json("messages", "--to", "peer")
             if m["body"].startswith("parser is half done")]
    assert msg["sender_id"] == rec["id"] and msg["to"] == peer["id"]
