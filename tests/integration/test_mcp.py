"""sm's MCP server through the real ``mcp`` client: over stdio (``sm mcp``, as an agent's
CLI starts it) and over streamable HTTP on the daemon's socket. Each tool acts as the
session that calls it, and what it did shows through the ``sm`` CLI."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

SM_BIN = Path(sys.executable).with_name("sm")
TOOLS = {"send", "messages", "message", "spawn", "list", "session", "children", "status",
         "wait", "dispatch", "remind", "lock", "unlock", "locks", "ask", "ask_result",
         "note_read", "note_write", "note_list", "note_watch", "kb_search", "kb_learn",
         "job_add", "job_wait", "job_done"}


@asynccontextmanager
async def stdio(env: dict[str, str], cwd: Path) -> AsyncIterator[Client]:
    """``sm mcp`` started the way an agent's CLI starts it, with ``env``."""
    params = StdioServerParameters(command=str(SM_BIN), args=["mcp"], env=env, cwd=cwd)
    async with Client(params) as client:
        yield client


@asynccontextmanager
async def http(home: Path, headers: dict[str, str]) -> AsyncIterator[tuple[Client, Any]]:
    """The SDK's streamable HTTP client on ``$SM_HOME/sm.sock`` (and its httpx client,
    whose headers a test may change between calls)."""
    transport = httpx2.AsyncHTTPTransport(uds=str(home / "sm.sock"))
    async with httpx2.AsyncClient(transport=transport, headers=headers) as web:
        from mcp.client.streamable_http import streamable_http_client

        async with Client(streamable_http_client("http://sm/mcp", http_client=web)) as client:
            yield client, web


def text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "text", None))


def data(result: Any) -> Any:
    assert not result.is_error, text(result)
    return json.loads(text(result))


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def refused(coro: Any) -> str:
    """The MCP error that ``coro`` fails with (the client may wrap it in groups)."""
    try:
        run(coro)
    except BaseException as exc:  # noqa: BLE001 - unwrapped below
        found = exc
        while isinstance(found, BaseExceptionGroup):
            found = found.exceptions[0]
        assert isinstance(found, MCPError), repr(exc)
        return str(found)
    raise AssertionError("the call was not refused")


@pytest.fixture
def pair(spawn: Callable[..., dict[str, Any]], session_env: Callable[[str], dict[str, Any]]
         ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Two idle scripted sessions, a and b, and the environment that speaks as a."""
    a = spawn("--name", "a")
    b = spawn("--name", "b")
    return a, b, session_env(a["id"])


@pytest.fixture
def repo(sm_home: Path) -> Path:
    path = sm_home / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_stdio_tools_act_as_the_session(
    pair: Any, sm_env: dict[str, str], sm_home: Path, sm_json: Callable[..., Any],
    repo: Path,
) -> None:
    a, b, env_a = pair

    async def go() -> dict[str, Any]:
        async with stdio({**sm_env, **env_a}, sm_home) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert names >= TOOLS
            me = data(await client.call_tool("session", {}))
            status = data(await client.call_tool("status", {"text": "reviewing the parser"}))
            sent = data(await client.call_tool("send", {"targets": ["b"], "body": "hello b"}))
            held = data(await client.call_tool("lock", {"paths": ["x.py"], "cwd": str(repo),
                                                        "reason": "editing"}))
            return {"me": me, "status": status, "sent": sent, "held": held}

    out = run(go())
    assert out["me"]["id"] == a["id"]
    assert out["status"]["status_text"] == "reviewing the parser"
    assert sm_json("status", "a")["status_text"] == "reviewing the parser"
    [msg] = out["sent"]["items"]
    shown = sm_json("message", msg["id"])
    assert (shown["sender_id"], shown["to"], shown["body"]) == (a["id"], b["id"], "hello b")
    table = sm_json("locks")
    assert [(item["path"], item["session_id"]) for item in table["items"]] == [
        (str(repo / "x.py"), a["id"])]


def test_notes_knowledge_and_jobs_as_tools(
    pair: Any, sm_env: dict[str, str], sm_home: Path, sm_json: Callable[..., Any],
    sm: Callable[..., Any],
) -> None:
    a, _b, env_a = pair

    async def go() -> dict[str, Any]:
        async with stdio({**sm_env, **env_a}, sm_home) as client:
            written = data(await client.call_tool("note_write", {"key": "build/status",
                                                                 "value": "green"}))
            read = data(await client.call_tool("note_read", {"key": "build/status"}))
            listed = data(await client.call_tool("note_list", {"prefix": "build/"}))
            seen = data(await client.call_tool("note_watch", {"keys": ["build/status"],
                                                              "until": "green"}))
            learned = data(await client.call_tool("kb_learn", {"learnings": [
                {"title": "the parser needs a flag", "content": "pass --strict to parse",
                 "tags": ["parser"]}]}))
            found = data(await client.call_tool("kb_search", {"query": "parser flag"}))
            bad = await client.call_tool("kb_learn", {"learnings": [{"title": 3}]})
            added = data(await client.call_tool("job_add", {
                "task": "tidy the docs", "provider": "scripted", "name": "tidy"}))
            not_mine = await client.call_tool("job_done", {"result": "done"})
            return {"written": written, "read": read, "listed": listed, "seen": seen,
                    "learned": learned, "found": found, "bad": text(bad),
                    "added": added, "not_mine": text(not_mine)}

    out = run(go())
    assert out["read"]["value"] == "green" and out["written"]["key"] == "build/status"
    assert [n["key"] for n in out["listed"]["items"]] == ["build/status"]
    assert out["seen"]["outcome"] == "matched"
    assert sm("note", "read", "build/status").stdout.strip() == "green"
    assert [e["title"] for e in out["found"]["items"]] == ["the parser needs a flag"]
    assert out["bad"].startswith("invalid_input: kb_learn: learnings[0]")
    [job] = out["added"]["items"]
    shown = sm_json("job", "show", job["id"])
    assert (shown.get("job") or shown)["id"] == job["id"]
    assert out["not_mine"].startswith(("refused", "invalid_input", "not_found"))


def test_http_on_the_socket_acts_as_the_token_holder(
    pair: Any, sm_home: Path, sm_json: Callable[..., Any], repo: Path,
) -> None:
    a, b, env_a = pair
    headers = {"Authorization": f"Bearer {env_a['SM_SESSION_TOKEN']}"}

    async def go() -> dict[str, Any]:
        async with http(sm_home, headers) as (client, _):
            names = {t.name for t in (await client.list_tools()).tools}
            assert names >= TOOLS
            data(await client.call_tool("status", {"text": "over http"}))
            sent = data(await client.call_tool("send", {"targets": [b["id"]], "body": "hi",
                                                        "mode": "important"}))
            data(await client.call_tool("lock", {"paths": ["y.py"], "cwd": str(repo)}))
            peek = [data(await client.call_tool("messages", {"to": "b"})) for _ in range(2)]
            released = data(await client.call_tool("unlock", {}))
            # a is no manager of b: the operation's own rule refuses it
            stranger = await client.call_tool("dispatch", {"agent": "b", "role": "engineer"})
            return {"sent": sent, "peek": peek, "released": released, "stranger": stranger}

    out = run(go())
    assert sm_json("status", "a")["status_text"] == "over http"
    [msg] = out["sent"]["items"]
    assert sm_json("message", msg["id"])["sender_id"] == a["id"]
    # reading messages changes none of them
    first, second = out["peek"]
    assert [m["id"] for m in first["items"]] == [m["id"] for m in second["items"]]
    assert msg["id"] in [m["id"] for m in first["items"]]
    assert [r["path"] for r in out["released"]["items"]] == [str(repo / "y.py")]
    assert sm_json("locks")["items"] == []
    assert out["stranger"].is_error and text(out["stranger"]).startswith("refused: ")


def test_bad_input_is_a_tool_error_naming_the_field(
    pair: Any, sm_env: dict[str, str], sm_home: Path,
) -> None:
    _, _, env_a = pair

    async def go() -> list[Any]:
        async with stdio({**sm_env, **env_a}, sm_home) as client:
            return [
                await client.call_tool("send", {"targets": ["b"], "body": "x", "mode": "loud"}),
                await client.call_tool("send", {"body": "x"}),
                await client.call_tool("send", {"targets": ["nobody"], "body": "x"}),
                await client.call_tool("lock", {"paths": ["/"], "cwd": "/"}),
            ]

    bad_mode, missing, unknown, root = run(go())
    assert all(r.is_error for r in (bad_mode, missing, unknown, root))
    assert text(bad_mode) == ("invalid_input: send: mode: input should be 'sequential', "
                              "'important' or 'urgent'; got 'loud'")
    assert text(missing) == "invalid_input: send: targets: a required field is missing"
    assert text(unknown) == "not_found: no session 'nobody'"
    assert text(root).startswith("refused: cannot lock /")


def test_the_operator_has_no_session_to_report_for(sm_env: dict[str, str],
                                                   sm_home: Path, sm: Any) -> None:
    sm("daemon", "start")  # the relay never starts one itself

    async def go() -> Any:
        async with stdio(sm_env, sm_home) as client:
            return await client.call_tool("status", {"text": "hi"})

    result = run(go())
    assert result.is_error
    assert text(result).startswith("invalid_input: ")


def test_the_relay_never_starts_a_daemon(sm_env: dict[str, str], sm_home: Path) -> None:
    """An agent's MCP server talks to the daemon that started the agent: with none
    running, a tool call fails and no daemon comes up (as with hooks)."""
    async def go() -> Any:
        async with stdio(sm_env, sm_home) as client:
            return await client.call_tool("status", {"text": "hi"})

    try:
        outcome = text(run(go()))
    except BaseException as exc:  # noqa: BLE001 - the client may fail the call itself
        outcome = repr(exc)
    assert "daemon" in outcome.lower() or "unavailable" in outcome.lower(), outcome
    assert not (sm_home / "sm.sock").exists() and not (sm_home / "daemon.pid").exists()


def test_a_wrong_token_is_refused_on_stdio(pair: Any, sm_env: dict[str, str],
                                           sm_home: Path) -> None:
    _, _, env_a = pair

    async def go() -> None:
        async with stdio({**sm_env, **env_a, "SM_SESSION_TOKEN": "not-a-token"}, sm_home):
            pass

    assert refused(go()) == "bad_token: unknown session token"


def test_every_http_call_is_authenticated(
    pair: Any, sm_home: Path, sm_json: Callable[..., Any],
    session_env: Callable[[str], dict[str, Any]],
) -> None:
    a, b, env_a = pair
    env_b = session_env(b["id"])

    async def wrong_token() -> None:
        async with http(sm_home, {"Authorization": "Bearer not-a-token"}):
            pass

    assert refused(wrong_token()) == "bad_token: unknown session token"

    async def another_sessions_token() -> None:
        # b's token claiming to be a
        headers = {"Authorization": f"Bearer {env_b['SM_SESSION_TOKEN']}",
                   "X-Sm-Session": a["id"]}
        async with http(sm_home, headers):
            pass

    assert refused(another_sessions_token()) == (
        f"refused: this token belongs to session {b['id']}, not {a['id']}")

    async def token_swapped_mid_session() -> tuple[Any, Any]:
        async with http(sm_home, {"Authorization": f"Bearer {env_a['SM_SESSION_TOKEN']}"}
                        ) as (client, web):
            first = await client.call_tool("status", {"text": "as a"})
            web.headers["Authorization"] = "Bearer not-a-token"
            try:
                second: Any = await client.call_tool("status", {"text": "as nobody"})
            except MCPError as exc:
                second = exc
            return first, second

    first, second = run(token_swapped_mid_session())
    assert not first.is_error
    assert isinstance(second, MCPError) and "bad_token" in str(second)
    assert sm_json("status", "a")["status_text"] == "as a"
