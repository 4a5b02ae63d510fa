"""One turn of the scripted agent: the script's actions for a prompt, played in a worker
thread — say, sleep, the Bash and Write tools between their PreToolUse and PostToolUse
hooks, the permission dialog, an API error (fail), crash and exit. What a turn shows,
fires and records goes through its ``Stage``, the agent."""

from __future__ import annotations

import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, NoReturn, Protocol

from sm.agents.scripted_hooks import HookResult, hook_decision, run_shell
from sm.agents.scripted_screen import summary
from sm.agents.scripted_script import (
    Action,
    Crash,
    Exit,
    Fail,
    Permission,
    Run,
    Say,
    Sleep,
    Usage,
    Write,
)

Outcome = Literal["next", "done", "failed", "cancelled", "exit"]
# what each error says when the script gives no message (Claude Code's wording)
_FAIL_TEXT = {
    "rate_limit": "Claude AI usage limit reached",
    "overloaded": "API Error: Repeated 529 Overloaded errors",
    "authentication_failed": "API Error: 401 · Please run /login",
    "invalid_request": "API Error: 400 Prompt is too long",
    "server_error": "API Error: 500 Internal server error",
}


@dataclass
class Turn:
    prompt: str
    records: list[str] = field(default_factory=list)  # transcript ids of its prompts
    cancelled: threading.Event = field(default_factory=threading.Event)
    finishing: bool = False  # Stop is being fired: too late to interrupt
    last_say: str = ""
    output: bool = False  # something was shown: an interrupt no longer puts it back
    tool: bool = False  # a tool runs: a prompt submitted now rides along with its result
    joined: list[str] = field(default_factory=list)  # prompts that rode along, to answer
    failure: dict[str, Any] | None = None  # an API error ended it: StopFailure's fields


class Stage(Protocol):
    """What a turn needs from the agent playing it; callable from worker threads."""

    def emit(self, turn: Turn, lines: list[str]) -> bool:
        """Print ``lines`` unless ``turn`` was interrupted; True when printed."""

    def fire(
        self, event: str, fields: dict[str, Any], cancelled: threading.Event | None = None
    ) -> list[HookResult] | None:
        """Run the hooks of ``event`` for the current conversation; None once cancelled."""

    def permission(self, turn: Turn, tool: str) -> bool | None:
        """Ask to use ``tool``; None when ``turn`` was interrupted meanwhile."""

    def settle(self) -> None:
        """Wait until every prompt submitted so far has fired its UserPromptSubmit."""

    def record(self, record: dict[str, Any]) -> None:
        """Append ``record`` to the current conversation's transcript."""

    def request_exit(self, code: int, reason: str) -> None: ...

    def crash(self, code: int) -> NoReturn: ...


def usage_records(usage: Usage, now: float) -> list[dict[str, Any]]:
    """Transcript lines of one API response, in Claude Code's shape."""
    message_id, request_id = f"msg_{uuid.uuid4().hex}", f"req_{uuid.uuid4().hex}"
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    out = []
    for block in range(usage.blocks):
        final = block == usage.blocks - 1
        out.append({
            "type": "assistant", "timestamp": stamp, "requestId": request_id,
            "uuid": str(uuid.uuid4()), "isSidechain": False,
            "message": {
                "id": message_id, "type": "message", "role": "assistant", "model": usage.model,
                "content": [{"type": "text", "text": f"block {block + 1}"}],
                "usage": {
                    "input_tokens": usage.input,
                    "output_tokens": usage.output if final else min(1, usage.output),
                    "cache_creation_input_tokens": usage.cache_write_5m + usage.cache_write_1h,
                    "cache_read_input_tokens": usage.cache_read,
                    "cache_creation": {"ephemeral_5m_input_tokens": usage.cache_write_5m,
                                       "ephemeral_1h_input_tokens": usage.cache_write_1h},
                },
            },
        })
    return out


class Player:
    """Plays turns on ``stage``: tools run in ``cwd``, sleeps last ``speed`` times as long."""

    def __init__(self, stage: Stage, cwd: str, speed: float) -> None:
        self._stage, self._cwd, self._speed = stage, cwd, speed

    def play(self, turn: Turn, actions: Iterable[Action]) -> Outcome:
        """Run ``actions`` in order until one ends the turn or it is interrupted. Blocks
        for the sleeps, tools, hooks and dialogs of the turn."""
        for action in actions:
            if turn.cancelled.is_set():
                return "cancelled"
            outcome = self._act(turn, action)
            if outcome != "next":
                return outcome
        return "cancelled" if turn.cancelled.is_set() else "done"

    def _act(self, turn: Turn, action: Action) -> Outcome:
        stage = self._stage
        if isinstance(action, Say):
            first, *rest = action.text.split("\n")
            if stage.emit(turn, [f"● {first}"] + [f"  {line}" for line in rest]):
                turn.last_say = action.text
                stage.record({"type": "assistant", "text": action.text})
        elif isinstance(action, Sleep):
            turn.cancelled.wait(action.seconds * self._speed)
        elif isinstance(action, Run):
            return self._tool(turn, "Bash", {"command": action.command}, self._bash)
        elif isinstance(action, Write):
            path = os.path.normpath(os.path.join(self._cwd, action.path))
            tool_input = {"file_path": path, "content": action.content}
            return self._tool(turn, "Write", tool_input, self._write)
        elif isinstance(action, Permission):
            allowed = stage.permission(turn, action.tool)
            if allowed is None:
                return "cancelled"
            if not allowed:
                stage.emit(turn, ["  ⎿  Denied"])
                return "done"
        elif isinstance(action, Usage):
            for record in usage_records(action, time.time()):
                stage.record(record)
        elif isinstance(action, Fail):
            text = action.message or _FAIL_TEXT.get(action.error, f"API Error: {action.error}")
            if action.reset_in is not None:
                text += f"|{math.ceil(time.time() + action.reset_in)}"
            if stage.emit(turn, [f"● {text}"]):
                turn.last_say = text
                stage.record({"type": "assistant", "text": text, "isApiErrorMessage": True})
            turn.failure = {"error": action.error, "error_details": text}
            return "failed"
        elif isinstance(action, Crash):
            stage.crash(action.code)
        elif isinstance(action, Exit):
            stage.request_exit(action.code, "other")
            return "exit"
        return "next"

    def _tool(
        self,
        turn: Turn,
        name: str,
        tool_input: dict[str, Any],
        execute: Callable[[Turn, dict[str, Any]], dict[str, Any] | None],
    ) -> Outcome:
        """One tool call: PreToolUse (may refuse, or ask), the tool, PostToolUse."""
        stage = self._stage
        subject = tool_input.get("command", tool_input.get("file_path", ""))
        stage.emit(turn, [f"● {name}({summary(str(subject))})"])
        fields = {"tool_name": name, "tool_input": tool_input}
        results = stage.fire("PreToolUse", fields, turn.cancelled)
        if results is None:
            return "cancelled"
        decision = hook_decision(results)
        if decision is not None and decision[0] == "ask":
            allowed = stage.permission(turn, name)
            if allowed is None:
                return "cancelled"
            decision = None if allowed else ("deny", "denied by user")
        if decision is not None:
            stage.emit(turn, [f"  ⎿  Refused: {decision[1]}"])
            return "next"
        turn.tool = True
        try:
            response = execute(turn, tool_input)
            # a prompt that rode along is announced before the tool's result goes on
            stage.settle()
        finally:
            turn.tool = False
        if response is None:
            return "cancelled"
        posted = stage.fire("PostToolUse", {**fields, "tool_response": response}, turn.cancelled)
        return "cancelled" if posted is None else "next"

    def _bash(self, turn: Turn, tool_input: dict[str, Any]) -> dict[str, Any] | None:
        result = run_shell(
            tool_input["command"], self._cwd, None, None, turn.cancelled, kill_on_cancel=True
        )
        if result is None:
            return None
        lines = (result.stdout + result.stderr).rstrip("\n").split("\n")
        lines = lines if lines != [""] else ["(No content)"]
        shown = lines[:5] + ([f"… +{len(lines) - 5} lines"] if len(lines) > 5 else [])
        if result.exit_code:
            shown.insert(0, f"Error: exit code {result.exit_code}")
        self._stage.emit(turn, [f"  ⎿  {shown[0]}"] + [f"     {line}" for line in shown[1:]])
        return {
            "stdout": result.stdout,
            "stderr": result.stderr,
            "exit_code": result.exit_code,
            "interrupted": False,
        }

    def _write(self, turn: Turn, tool_input: dict[str, Any]) -> dict[str, Any] | None:
        path, content = tool_input["file_path"], tool_input["content"]
        kind = "update" if os.path.exists(path) else "create"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(content)
        except OSError as exc:
            self._stage.emit(turn, [f"  ⎿  Error: {exc}"])
            return {"error": str(exc)}
        self._stage.emit(turn, [f"  ⎿  Wrote {content.count(chr(10)) + 1} lines to {path}"])
        return {"type": kind, "filePath": path, "content": content}
