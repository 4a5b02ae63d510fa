"""Smoke tests of the e2e harness itself: the real Claude Code and Codex CLIs, each in a private
tmux server, against the scripted fake model servers — no sm daemon, no network, no key.

They prove that the facts in ``agents.py`` start each CLI straight into a ready composer, that
the hooks (and Codex's ``notify``) report a turn, and that a scripted tool call really runs.
Skipped only when a CLI (``scripts/install-agent-clis.sh``) or tmux is missing.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import agents  # noqa: E402
from model_servers import (  # noqa: E402
    AnthropicServer,
    Bash,
    Item,
    OpenAIResponsesServer,
    Sleep,
    Text,
    Tool,
    Turn,
    Write,
)

pytestmark = pytest.mark.e2e

STEP = 0.02  # polling step for screen/hook waits (s)


# --------------------------------------------------------------------------------------------
# A private tmux server
# --------------------------------------------------------------------------------------------


class PrivateTmux:
    """A tmux server of our own (``tmux -L e2e-<unique>``), killed by :meth:`kill`."""

    def __init__(self) -> None:
        self.socket = f"e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    def run(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout

    def spawn(
        self, name: str, launch: agents.Launch, *, width: int = 160, height: int = 45
    ) -> None:
        # -f /dev/null: no user tmux.conf. remain-on-exit keeps a crashed agent's last words.
        self.run(
            "-f",
            "/dev/null",
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            str(width),
            "-y",
            str(height),
            launch.shell_command(),
        )

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", name, check=False)

    def type_text(self, name: str, text: str) -> None:
        """Type literally (``-l``): text equal to a key name is not taken as that key."""
        self.run("send-keys", "-t", name, "-l", "--", text)

    def key(self, name: str, *keys: str) -> None:
        self.run("send-keys", "-t", name, *keys)

    def submit(self, name: str, text: str, settle: float = 0.3) -> None:
        """Type ``text``, let the TUI settle, then press Enter on its own (no paste-newline)."""
        self.type_text(name, text)
        time.sleep(settle)
        self.key(name, "Enter")

    def kill(self) -> None:
        """Kill our server and remove its socket file (tmux 3.3 leaves it behind)."""
        path = self.run("display-message", "-p", "#{socket_path}", check=False).strip()
        self.run("kill-server", check=False)
        uid_dir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        sock = Path(path) if path else uid_dir / self.socket
        if sock.name == self.socket:
            sock.unlink(missing_ok=True)


@pytest.fixture
def tmux(made: Any) -> Iterator[PrivateTmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    server = PrivateTmux()
    made.sockets.append(server.socket)
    yield server
    server.kill()


# --------------------------------------------------------------------------------------------
# Hook capture
# --------------------------------------------------------------------------------------------


class HookLog:
    """A JSON-lines file the agents' hooks (and Codex ``notify``) append their payloads to."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def command(self) -> str:
        """A hook command: read the one JSON payload on stdin, append it as one line.

        One ``printf`` = one ``write()`` on an O_APPEND file, so concurrent hooks don't mix.
        """
        f = shlex.quote(str(self.path))
        return f"p=$(cat); printf '%s\\n' \"$p\" >> {f}"

    def notify_script(self, where: Path) -> Path:
        """A Codex ``notify`` program: its JSON is the last argument; tag and append it."""
        script = where / "notify.sh"
        script.write_text(
            "#!/bin/sh\n"
            'eval "last=\\${$#}"\n'
            f'printf \'{{"notify": %s}}\\n\' "$last" >> {shlex.quote(str(self.path))}\n'
        )
        script.chmod(0o755)
        return script

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
        return out

    def events(self) -> list[str]:
        return [
            e.get("hook_event_name", "notify" if "notify" in e else "?") for e in self.entries()
        ]

    def get(self, event: str, **fields: Any) -> dict[str, Any]:
        """Like :meth:`find`, but the payload must be there."""
        found = self.find(event, **fields)
        assert found is not None, f"no {event} hook payload; saw {self.events()}"
        return found

    def find(self, event: str, **fields: Any) -> dict[str, Any] | None:
        for e in self.entries():
            if e.get("hook_event_name") == event and all(e.get(k) == v for k, v in fields.items()):
                return e
        return None


def wait_for(
    pred: Callable[[], Any], timeout: float, what: str, on_fail: Callable[[], str] = lambda: ""
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{on_fail()}")
        time.sleep(STEP)


def _need(binary: Path | None, name: str) -> Path:
    if binary is None:
        pytest.skip(f"{name} CLI not installed (run scripts/install-agent-clis.sh)")
    return binary


def _report(name: str, **timings: float) -> None:
    figures = ", ".join(f"{k}={v * 1000:.0f}ms" for k, v in timings.items())
    print(f"[timing] {name}: {figures}")


# --------------------------------------------------------------------------------------------
# Claude Code
# --------------------------------------------------------------------------------------------


def _start_claude(
    tmux: PrivateTmux,
    tmp_path: Path,
    server: AnthropicServer,
    permission_mode: str = "bypassPermissions",
) -> tuple[HookLog, Path, float]:
    _need(agents.claude_bin(), "claude")
    work = tmp_path / "work"
    work.mkdir()
    log = HookLog(tmp_path / "hooks.jsonl")
    launch = agents.prepare_claude(
        tmp_path / "agent",
        work,
        server.url,
        hook_command=log.command(),
        permission_mode=permission_mode,
    )
    t0 = time.monotonic()
    tmux.spawn("claude", launch)
    diag = lambda: f"screen:\n{tmux.screen('claude')}\nhooks: {log.events()}"  # noqa: E731
    start = wait_for(lambda: log.find("SessionStart"), 20, "SessionStart", diag)
    wait_for(lambda: agents.claude_ready(tmux.screen("claude")), 20, "ready composer", diag)
    assert start["source"] == "startup"
    assert Path(start["cwd"]) == work.resolve()
    for key in ("session_id", "transcript_path", "cwd", "hook_event_name"):
        assert key in start
    return log, work, time.monotonic() - t0


def test_claude_prompt_to_stop(tmux: PrivateTmux, tmp_path: Path) -> None:
    script = [Turn(match="ping", reply=[Text("pong from the script")])]
    with AnthropicServer(script) as server:
        log, work, t_ready = _start_claude(tmux, tmp_path, server)
        diag = lambda: f"screen:\n{tmux.screen('claude')}\nhooks: {log.events()}"  # noqa: E731

        tmux.submit("claude", "ping the fake model")
        t0 = time.monotonic()  # Enter pressed
        submit = wait_for(lambda: log.find("UserPromptSubmit"), 10, "UserPromptSubmit", diag)
        t_submit = time.monotonic() - t0
        stop = wait_for(lambda: log.find("Stop"), 10, "Stop", diag)
        t_stop = time.monotonic() - t0

        assert submit["prompt"] == "ping the fake model"
        assert stop["last_assistant_message"] == "pong from the script"
        assert stop["session_id"] == submit["session_id"]
        assert log.events().index("UserPromptSubmit") < log.events().index("Stop")
        assert server.prompts() == ["ping the fake model"]
        req = server.conversation_requests()[0]
        assert req.path == "/v1/messages" and req.body["stream"] is True
        assert "ping the fake model" in json.dumps(req.body["messages"])
        wait_for(lambda: agents.claude_ready(tmux.screen("claude")), 5, "composer back", diag)
    _report(
        "claude prompt", start_to_ready=t_ready, enter_to_submit_hook=t_submit, enter_to_stop=t_stop
    )


def test_claude_bash_tool_turn(tmux: PrivateTmux, tmp_path: Path) -> None:
    with AnthropicServer() as server:
        log, work, _ = _start_claude(tmux, tmp_path, server)
        # Two tool calls in one turn: each tool_result request continues the script.
        server.add(
            Turn(
                match="make",
                reply=[
                    Bash("echo hi > made.txt", "write a file"),
                    Write(str(work / "written.txt"), "via the Write tool\n"),
                    Text("made the file"),
                ],
            )
        )
        diag = lambda: f"screen:\n{tmux.screen('claude')}\nhooks: {log.events()}"  # noqa: E731

        tmux.submit("claude", "make a file please")
        t0 = time.monotonic()
        stop = wait_for(lambda: log.find("Stop"), 15, "Stop", diag)
        t_stop = time.monotonic() - t0

        assert (work / "made.txt").read_text() == "hi\n"
        assert (work / "written.txt").read_text() == "via the Write tool\n"
        pre = log.get("PreToolUse")
        post = log.get("PostToolUse")
        assert pre["tool_name"] == "Bash"
        assert pre["tool_input"]["command"] == "echo hi > made.txt"
        assert post["tool_use_id"] == pre["tool_use_id"]
        assert log.get("PreToolUse", tool_name="Write")["tool_input"]["file_path"] == str(
            work / "written.txt"
        )
        assert stop["last_assistant_message"] == "made the file"
        kinds = [r.kind for r in server.conversation_requests()]
        assert kinds == ["turn", "continue", "continue"]
        follow_up = server.conversation_requests()[1].body["messages"]
        results = [
            b
            for m in follow_up
            if m["role"] == "user" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_result"
        ]
        assert results and results[-1]["tool_use_id"] == pre["tool_use_id"]
    _report("claude bash turn", enter_to_stop=t_stop)


def test_claude_long_paste_and_resume(tmux: PrivateTmux, tmp_path: Path) -> None:
    """A 10 KB message arrives verbatim; ``--resume <id>`` reopens it with the old history."""
    body = "10KB message " + "".join(f"{i:05d}abcde" for i in range(1000)) + " END"
    script = [
        Turn(match="10KB message", reply=[Text("got the long one")]),
        Turn(match="after resume", reply=[Text("resumed fine")]),
    ]
    with AnthropicServer(script) as server:
        log, work, _ = _start_claude(tmux, tmp_path, server)
        diag = lambda: f"screen:\n{tmux.screen('claude')}\nhooks: {log.events()}"  # noqa: E731

        tmux.type_text("claude", body)
        # A big burst becomes a "[Pasted text #1]" chip; Enter (sent on its own) submits it.
        wait_for(lambda: "[Pasted text #1" in tmux.screen("claude"), 5, "paste chip", diag)
        tmux.key("claude", "Enter")
        stop = wait_for(lambda: log.find("Stop"), 10, "Stop", diag)
        assert stop["last_assistant_message"] == "got the long one"
        # The model (and UserPromptSubmit) get it wrapped as <pasted_content id="…">…</…>.
        assert body in log.get("UserPromptSubmit")["prompt"]
        assert body in server.prompts()[0]
        session_id = stop["session_id"]

        tmux.run("kill-session", "-t", "claude")
        wait_for(lambda: log.find("SessionEnd"), 10, "SessionEnd", diag)
        launch = agents.prepare_claude(
            tmp_path / "agent", work, server.url, hook_command=log.command(), resume=session_id
        )
        t0 = time.monotonic()
        tmux.spawn("claude", launch)
        resumed = wait_for(
            lambda: log.find("SessionStart", source="resume"), 20, "SessionStart(resume)", diag
        )
        wait_for(lambda: agents.claude_ready(tmux.screen("claude")), 20, "ready composer", diag)
        t_ready = time.monotonic() - t0
        assert resumed["session_id"] == session_id

        tmux.submit("claude", "hello after resume")
        stop2 = wait_for(
            lambda: log.find("Stop", last_assistant_message="resumed fine"),
            10,
            "Stop after resume",
            diag,
        )
        assert stop2["session_id"] == session_id
        history = json.dumps(server.conversation_requests()[-1].body["messages"])
        assert body in history and "got the long one" in history
    _report("claude resume", start_to_ready=t_ready)


def test_claude_escape_interrupts_without_stop(tmux: PrivateTmux, tmp_path: Path) -> None:
    """Escape mid-turn: the composer comes back, and no Stop hook fires for that turn."""
    script = [
        Turn(match="slow", reply=[Text("working on it"), Sleep(30), Text("never")]),
        Turn(match="next", reply=[Text("next answer")]),
    ]
    with AnthropicServer(script) as server:
        log, work, _ = _start_claude(tmux, tmp_path, server)
        diag = lambda: f"screen:\n{tmux.screen('claude')}\nhooks: {log.events()}"  # noqa: E731

        tmux.submit("claude", "a slow one")
        wait_for(lambda: "working on it" in tmux.screen("claude"), 10, "streamed text", diag)
        assert agents.claude_busy(tmux.screen("claude"))
        tmux.key("claude", "Escape")
        t0 = time.monotonic()
        wait_for(lambda: agents.claude_ready(tmux.screen("claude")), 5, "composer back", diag)
        t_back = time.monotonic() - t0
        assert "Interrupted" in tmux.screen("claude")
        time.sleep(0.5)
        assert log.find("Stop") is None

        tmux.submit("claude", "the next prompt")
        stop = wait_for(lambda: log.find("Stop"), 10, "Stop", diag)
        assert stop["last_assistant_message"] == "next answer"
        # The next prompt carries the interruption marker; the server starts a new turn.
        assert server.conversation_requests()[-1].kind == "turn"
    _report("claude escape", escape_to_composer=t_back)


# --------------------------------------------------------------------------------------------
# Codex
# --------------------------------------------------------------------------------------------


def test_codex_exec_command_turn(tmux: PrivateTmux, tmp_path: Path) -> None:
    _need(agents.codex_bin(), "codex")
    work = tmp_path / "work"
    work.mkdir()
    reply: list[Item] = [
        Bash("echo hi > made.txt"),
        Write(str(work / "written.txt"), "it's 'quoted' $HOME\n"),  # an exec_command too
        Text("codex made it"),
    ]
    with OpenAIResponsesServer([Turn(match="make", reply=reply)]) as server:
        log = HookLog(tmp_path / "hooks.jsonl")
        notify = log.notify_script(tmp_path)
        launch = agents.prepare_codex(
            tmp_path / "agent", work, server.url, hook_command=log.command(), notify=[str(notify)]
        )
        diag = lambda: f"screen:\n{tmux.screen('codex')}\nhooks: {log.events()}"  # noqa: E731

        t0 = time.monotonic()
        tmux.spawn("codex", launch)
        wait_for(lambda: agents.codex_ready(tmux.screen("codex")), 20, "ready composer", diag)
        t_ready = time.monotonic() - t0

        tmux.submit("codex", "make a file please")
        t0 = time.monotonic()
        stop = wait_for(lambda: log.find("Stop"), 15, "Stop", diag)
        t_stop = time.monotonic() - t0
        start = log.get("SessionStart")
        thread = start["session_id"]

        def main_notify() -> dict[str, Any] | None:
            for e in log.entries():
                if "notify" in e and e["notify"].get("thread-id") == thread:
                    note: dict[str, Any] = e["notify"]
                    return note
            return None

        note = wait_for(main_notify, 10, "notify for the session's thread", diag)
        t_notify = time.monotonic() - t0

        assert (work / "made.txt").read_text() == "hi\n"
        assert (work / "written.txt").read_text() == "it's 'quoted' $HOME\n"
        assert start["source"] == "startup"
        submit = log.get("UserPromptSubmit")
        assert submit["prompt"] == "make a file please"
        pre = log.get("PreToolUse")
        assert pre["tool_name"] == "Bash" and pre["tool_input"]["command"] == "echo hi > made.txt"
        assert log.get("PostToolUse")["tool_use_id"] == pre["tool_use_id"]
        assert stop["last_assistant_message"] == "codex made it"
        assert stop["turn_id"] == submit["turn_id"]
        assert note["type"] == "agent-turn-complete"
        assert note["turn-id"] == stop["turn_id"]
        assert note["last-assistant-message"] == "codex made it"
        # The title request went to the side and did not eat the scripted turn.
        kinds = [r.kind for r in server.conversation_requests()]
        assert kinds == ["turn", "continue", "continue"]
        assert all(r.body["model"] == "gpt-5-codex" for r in server.conversation_requests())
        call = server.conversation_requests()[1].body["input"]
        outputs = [i for i in call if i.get("type") == "function_call_output"]
        assert outputs and outputs[-1]["call_id"] == pre["tool_use_id"]
        # Pre-trusted hooks: no review dialog, and embedded mode: no daemon package copied.
        assert not (tmp_path / "agent" / "codex-home" / "packages").exists()
    _report(
        "codex exec_command turn",
        start_to_ready=t_ready,
        enter_to_stop=t_stop,
        enter_to_notify=t_notify,
    )


def test_codex_escape_fires_interrupt(tmux: PrivateTmux, tmp_path: Path) -> None:
    """Escape mid-turn in Codex: an ``Interrupt`` hook, no Stop, no notify."""
    _need(agents.codex_bin(), "codex")
    script = [Turn(match="slow", reply=[Sleep(30), Text("never")])]
    with OpenAIResponsesServer(script) as server:
        work = tmp_path / "work"
        work.mkdir()
        log = HookLog(tmp_path / "hooks.jsonl")
        notify = log.notify_script(tmp_path)
        launch = agents.prepare_codex(
            tmp_path / "agent", work, server.url, hook_command=log.command(), notify=[str(notify)]
        )
        diag = lambda: f"screen:\n{tmux.screen('codex')}\nhooks: {log.events()}"  # noqa: E731
        tmux.spawn("codex", launch)
        wait_for(lambda: agents.codex_ready(tmux.screen("codex")), 20, "ready composer", diag)

        tmux.submit("codex", "a slow one")
        submit = wait_for(lambda: log.find("UserPromptSubmit"), 10, "UserPromptSubmit", diag)
        wait_for(lambda: agents.codex_busy(tmux.screen("codex")), 5, "Working status", diag)
        tmux.key("codex", "Escape")
        t0 = time.monotonic()
        intr = wait_for(lambda: log.find("Interrupt"), 5, "Interrupt hook", diag)
        t_intr = time.monotonic() - t0
        wait_for(lambda: agents.codex_ready(tmux.screen("codex")), 5, "composer back", diag)
        assert intr["turn_id"] == submit["turn_id"]
        assert "Conversation interrupted" in tmux.screen("codex")
        time.sleep(0.5)
        assert log.find("Stop") is None
        thread = log.get("SessionStart")["session_id"]
        assert not [
            e for e in log.entries() if "notify" in e and e["notify"].get("thread-id") == thread
        ]
    _report("codex escape", escape_to_interrupt_hook=t_intr)


# --------------------------------------------------------------------------------------------
# The fake servers on their own (no CLI needed)
# --------------------------------------------------------------------------------------------


def _post(url: str, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.decode().split("\n\n"):
        lines = dict(ln.split(": ", 1) for ln in block.splitlines() if ": " in ln)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_anthropic_server_protocol() -> None:
    script = [Turn(match="build", reply=[Text("on it"), Bash("make"), Text("built")])]
    tools = [{"name": "Bash", "input_schema": {"type": "object"}}]
    with AnthropicServer(script, default_reply="default!") as server:
        # A side request (no tools) does not consume the turn, even if its text matches.
        status, raw = _post(
            server.url,
            "/v1/messages",
            {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "build"}]},
        )
        assert status == 200 and json.loads(raw)["content"][0]["text"] == server.side_reply

        msgs: list[dict[str, Any]] = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>noise</system-reminder>"},
                    {"type": "text", "text": "please build it"},
                ],
            }
        ]
        status, raw = _post(
            server.url,
            "/v1/messages?beta=true",
            {"model": "m", "stream": True, "tools": tools, "messages": msgs},
        )
        events = _sse(raw)
        names = [e for e, _ in events]
        assert names[0] == "message_start" and names[-1] == "message_stop"
        starts = [d["content_block"] for e, d in events if e == "content_block_start"]
        assert [b["type"] for b in starts] == ["text", "tool_use"]
        partial = "".join(
            d["delta"]["partial_json"]
            for e, d in events
            if e == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
        )
        assert json.loads(partial) == {"command": "make", "description": "Run a shell command"}
        stop = [d for e, d in events if e == "message_delta"][0]["delta"]["stop_reason"]
        assert stop == "tool_use"

        msgs += [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": starts[1]["id"], "name": "Bash", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": starts[1]["id"], "content": "ok"}
                ],
            },
        ]
        status, raw = _post(
            server.url, "/v1/messages", {"model": "m", "tools": tools, "messages": msgs}
        )
        reply = json.loads(raw)
        assert reply["content"] == [{"type": "text", "text": "built"}]
        assert reply["stop_reason"] == "end_turn"

        status, raw = _post(
            server.url,
            "/v1/messages",
            {
                "model": "m",
                "tools": tools,
                "messages": [{"role": "user", "content": "build again"}],
            },
        )
        assert json.loads(raw)["content"][0]["text"] == "default!"  # the turn was used once

        status, raw = _post(server.url, "/v1/messages/count_tokens", {"messages": msgs})
        assert status == 200 and json.loads(raw)["input_tokens"] > 0
        assert [r.kind for r in server.requests] == [
            "side",
            "turn",
            "continue",
            "default",
            "count_tokens",
        ]
        assert server.requests[1].prompt == "please build it"
        assert server.prompts() == ["please build it", "build again"]


def test_openai_responses_server_protocol() -> None:
    script = [Turn(match="build", reply=[Bash("make"), Text("built")])]
    tools = [{"type": "function", "name": "exec_command", "parameters": {}}]
    with OpenAIResponsesServer(script) as server:
        title_req = {
            "model": "m",
            "stream": True,
            "tools": [],
            "text": {
                "format": {
                    "type": "json_schema",
                    "name": "t",
                    "schema": {"type": "object", "properties": {"title": {"type": "string"}}},
                }
            },
            "input": [
                {
                    "type": "message",
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": "Generate a title. User prompt: build"}
                    ],
                }
            ],
        }
        _, raw = _post(server.url, "/v1/responses", title_req)
        done = [d for e, d in _sse(raw) if e == "response.completed"][0]["response"]
        title = json.loads(done["output"][0]["content"][0]["text"])
        assert title == {"title": server.side_reply}

        inp: list[dict[str, Any]] = [
            {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "please build"}],
            }
        ]
        _, raw = _post(
            server.url,
            "/v1/responses",
            {"model": "m", "stream": True, "tools": tools, "input": inp},
        )
        events = _sse(raw)
        assert events[0][0] == "response.created" and events[-1][0] == "response.completed"
        call = [d["item"] for e, d in events if e == "response.output_item.done"][0]
        assert call["type"] == "function_call" and call["name"] == "exec_command"
        assert json.loads(call["arguments"]) == {"cmd": "make"}

        inp += [call, {"type": "function_call_output", "call_id": call["call_id"], "output": "ok"}]
        _, raw = _post(
            server.url,
            "/v1/responses",
            {"model": "m", "stream": True, "tools": tools, "input": inp},
        )
        texts = [d["delta"] for e, d in _sse(raw) if e == "response.output_text.delta"]
        assert "".join(texts) == "built"
        assert [r.kind for r in server.requests] == ["side", "turn", "continue"]

        with urllib.request.urlopen(server.url + "/v1/models", timeout=5) as resp:
            assert json.loads(resp.read())["data"]


def test_openai_responses_server_calls_a_tool_in_a_namespace() -> None:
    script = [Turn("report", [Tool("status", {"text": "x"}, namespace="mcp__sm"), Text("done")])]
    tools = [{"type": "namespace", "name": "mcp__sm", "description": "sm",
              "tools": [{"type": "function", "name": "status", "parameters": {}}]}]
    with OpenAIResponsesServer(script) as server:
        inp: list[dict[str, Any]] = [{"type": "message", "role": "user",
                                      "content": [{"type": "input_text", "text": "report"}]}]
        _, raw = _post(server.url, "/v1/responses",
                       {"model": "m", "stream": True, "tools": tools, "input": inp})
        events = _sse(raw)
        added = [d["item"] for e, d in events if e == "response.output_item.added"][0]
        call = [d["item"] for e, d in events if e == "response.output_item.done"][0]
        assert added["namespace"] == call["namespace"] == "mcp__sm"
        assert call["name"] == "status" and json.loads(call["arguments"]) == {"text": "x"}
        # Codex answers an MCP call with a list of content items
        inp += [call, {"type": "function_call_output", "call_id": call["call_id"],
                       "output": [{"type": "input_text", "text": "ok"}]}]
        _, raw = _post(server.url, "/v1/responses",
                       {"model": "m", "stream": True, "tools": tools, "input": inp})
        texts = [d["delta"] for e, d in _sse(raw) if e == "response.output_text.delta"]
        assert "".join(texts) == "done"
        assert [r.kind for r in server.requests] == ["turn", "continue"]
