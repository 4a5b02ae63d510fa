"""The real Codex CLI calls sm's MCP tools: sm configures its MCP server for the agents it
spawns (``mcp_servers.sm`` in the session's ``config.toml``), and the daemon records each
call under the calling session. With Codex's ``on-request`` approvals it asks before each
call, and ``sm approve`` / ``sm deny`` answer it.

Codex 0.169.0 offers each MCP server's tools as one ``{type: "namespace", name:
"mcp__<server>"}`` tool whose ``tools`` are the server's own, by their own names; the
model calls one with a ``function_call`` that carries ``namespace`` beside ``name``
(tests/e2e/FACTS.md §7).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from model_servers import Text, Tool, Turn

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("codex_bin")]

SM = "mcp__sm"  # the namespace Codex gives the tools of the server configured as "sm"


def offered(body: dict[str, Any]) -> dict[str, Any] | None:
    """sm's namespace tool as a request offered it, or None."""
    return next((t for t in body.get("tools") or []
                 if t.get("type") == "namespace" and t.get("name") == SM), None)


def call_outputs(models: Any) -> dict[str, str]:
    """The text of every ``function_call_output`` the model got back, by ``call_id``
    (each once: requests repeat the history)."""
    out: dict[str, str] = {}
    for req in models.openai.conversation_requests():
        for item in req.body.get("input") or []:
            if item.get("type") != "function_call_output":
                continue
            output = item.get("output")
            if isinstance(output, list):
                output = "\n".join(str(part.get("text", "")) for part in output)
            out[item["call_id"]] = str(output)
    return out


def calls(models: Any) -> dict[str, dict[str, Any]]:
    """The ``function_call`` items Codex sent back in its history, by ``call_id``."""
    return {item["call_id"]: item
            for req in models.openai.conversation_requests()
            for item in req.body.get("input") or [] if item.get("type") == "function_call"}


def result_json(output: str) -> Any:
    """The JSON document in a tool output: Codex puts a "Wall time: … Output:" line
    before the server's text."""
    return json.loads(output[output.index("{"):])


def test_codex_calls_sm_tools_as_itself(
    spawn_agent: Callable[..., dict[str, Any]], sm_json: Callable[..., Any],
    wait_state: Callable[..., dict[str, Any]], models: Any,
) -> None:
    models.openai.add(Turn("report progress", [
        Tool("status", {"text": "halfway through the parser"}, namespace=SM),
        Tool("send", {"targets": ["peer"], "body": "parser is half done"}, namespace=SM),
        Text("reported"),
    ]))
    peer = spawn_agent("scripted", "peer")
    rec = spawn_agent("codex", "cx")
    # typed the moment Codex is ready, on a daemon that has not loaded its MCP server yet:
    # Codex's first request must still wait for sm's tools
    sm_json("send", "cx", "report progress through sm")
    wait_state("cx", "idle", timeout=60, where=lambda r: r["last_message"] == "reported")

    first = models.openai.conversation_requests()[0]
    assert "report progress" in first.prompt
    tools = offered(first.body)
    assert tools is not None, [t.get("name") for t in first.body.get("tools") or []]
    names = {t["name"] for t in tools["tools"]}
    assert {"status", "send", "lock", "wait", "note_write", "job_done"} <= names
    assert "agent-facing operations" in tools["description"]  # the server's instructions

    made = calls(models)
    assert [(c["namespace"], c["name"]) for c in made.values()] == [(SM, "status"),
                                                                    (SM, "send")]
    outputs = call_outputs(models)
    assert set(outputs) == set(made)
    status_out, send_out = (outputs[call_id] for call_id in made)
    # sm's records, not an error text ("tool call error: …", "unsupported call: …")
    assert result_json(status_out)["status_text"] == "halfway through the parser"
    [sent] = result_json(send_out)["items"]
    assert sent["to"] == peer["id"] and sent["sender_id"] == rec["id"]

    # the daemon did both as cx: its own status line, a message from it
    assert sm_json("status", "cx")["status_text"] == "halfway through the parser"
    [msg] = [m for m in sm_json("messages", "--to", "peer")
             if m["body"].startswith("parser is half done")]
    assert msg["sender_id"] == rec["id"] and msg["to"] == peer["id"]
    assert msg["id"] == sent["id"]


def test_codex_asks_before_an_sm_tool_and_sm_answers_it(
    sm: Any, spawn_agent: Callable[..., dict[str, Any]], sm_json: Callable[..., Any],
    wait_state: Callable[..., dict[str, Any]], models: Any, events: Callable[..., Any],
    screen: Callable[[str], str], wait_until: Callable[..., Any],
) -> None:
    models.openai.add(
        Turn("report progress", [Tool("status", {"text": "allowed line"}, namespace=SM),
                                 Text("reported")]),
        Turn("report again", [Tool("status", {"text": "refused line"}, namespace=SM),
                              Text("gave up")]),
    )
    # this test's daemon: Codex asks before a tool runs unless the tool says it only reads
    # (sm's tools carry no such hint)
    sm("daemon", "start", env={"SM_CODEX_APPROVAL_POLICY": "on-request",
                               "SM_CODEX_SANDBOX_MODE": "workspace-write"})
    spawn_agent("codex", "cx")
    sm_json("send", "cx", "report progress through sm")
    wait_state("cx", "waiting_permission", timeout=30)
    asked = [e["payload"]["data"] for e in events("cx", kinds=("hook",))
             if e["payload"]["event"] == "PermissionRequest"]
    assert [a["tool_name"] for a in asked] == ["mcp__sm__status"]  # the hooks' flat name
    wait_until(lambda: 'Allow the sm MCP server to run tool "status"?' in screen("cx"),
               timeout=10, message="Codex's MCP approval form")
    sm("approve", "cx")
    wait_state("cx", "idle", where=lambda r: r["last_message"] == "reported")
    assert sm_json("status", "cx")["status_text"] == "allowed line"

    sm_json("send", "cx", "report again through sm")
    wait_state("cx", "waiting_permission", timeout=30)
    sm("deny", "cx")  # the tool call is cancelled; the turn goes on
    wait_state("cx", "idle", where=lambda r: r["last_message"] == "gave up")
    assert sm_json("status", "cx")["status_text"] == "allowed line"
    allowed, refused = call_outputs(models).values()
    assert result_json(allowed)["status_text"] == "allowed line"
    assert "user cancelled MCP tool call" in refused
