"""The scripted agent's hooks: the ``hooks`` block of a Claude Code settings file, the
commands run for an event (payload as JSON on stdin), and reading a PreToolUse verdict
from their results. ``run_shell`` also runs the Bash tool."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HookResult:
    exit_code: int
    stdout: str
    stderr: str


def hook_decision(results: Sequence[HookResult]) -> tuple[str, str] | None:
    """A PreToolUse verdict from hook results, as Claude Code reads them: exit code 2
    (stderr is the reason) or JSON ``hookSpecificOutput.permissionDecision`` "deny" or
    "ask" (or the older ``{"decision": "block"}``). Returns (decision, reason) or None."""
    for result in results:
        if result.exit_code == 2:
            return "deny", result.stderr.strip() or "blocked by hook"
        try:
            doc = json.loads(result.stdout)
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        specific = doc.get("hookSpecificOutput")
        if isinstance(specific, dict) and specific.get("permissionDecision") in ("deny", "ask"):
            return specific["permissionDecision"], str(specific.get("permissionDecisionReason", ""))
        if doc.get("decision") == "block":
            return "deny", str(doc.get("reason", ""))
    return None


_MATCHED_FIELD = {
    "PreToolUse": "tool_name",
    "PostToolUse": "tool_name",
    "SessionStart": "source",
    "Notification": "notification_type",
}


class Hooks:
    """The ``hooks`` of a Claude Code settings file. Raises ValueError on a bad shape."""

    def __init__(self, settings: object, cwd: str) -> None:
        hooks = settings.get("hooks", {}) if isinstance(settings, dict) else None
        if not isinstance(hooks, dict):
            raise ValueError("expected an object with a 'hooks' object")
        self._cwd = cwd
        self._groups: dict[str, list[tuple[str, str, float]]] = {}
        for event, groups in hooks.items():
            for group in groups if isinstance(groups, list) else [None]:
                if not isinstance(group, dict) or not isinstance(group.get("hooks"), list):
                    raise ValueError(f"hooks.{event}: expected a list of {{matcher, hooks}}")
                for hook in group["hooks"]:
                    if not isinstance(hook, dict):
                        raise ValueError(f"hooks.{event}: each hook must be an object")
                    if hook.get("type", "command") != "command":
                        continue  # Claude Code's other hook types do not apply here
                    command, timeout = hook.get("command"), hook.get("timeout", 60)
                    if not isinstance(command, str) or not isinstance(timeout, int | float):
                        raise ValueError(
                            f"hooks.{event}: a hook needs a 'command' and a number 'timeout'"
                        )
                    matcher = str(group.get("matcher") or "")
                    self._groups.setdefault(event, []).append((matcher, command, float(timeout)))

    def commands(self, event: str, payload: dict[str, Any]) -> list[tuple[str, float]]:
        """The (command, timeout) pairs to run for ``event``, in settings order."""
        subject = str(payload.get(_MATCHED_FIELD.get(event, ""), ""))
        return [
            (command, timeout)
            for matcher, command, timeout in self._groups.get(event, [])
            if event not in _MATCHED_FIELD or _matches(matcher, subject)
        ]

    def run(
        self, event: str, payload: dict[str, Any], cancelled: threading.Event | None = None
    ) -> list[HookResult] | None:
        """Run each command with ``payload`` as JSON on stdin, one after another. Returns
        None once ``cancelled`` is set; the hook then finishes on its own (never killed,
        so its report is not lost)."""
        data = json.dumps(payload).encode()
        env = {**os.environ, "CLAUDE_PROJECT_DIR": self._cwd}
        results = []
        for command, timeout in self.commands(event, payload):
            result = run_shell(command, self._cwd, data, timeout, cancelled, env=env)
            if result is None:
                return None
            results.append(result)
        return results


def _matches(matcher: str, subject: str) -> bool:
    if matcher in ("", "*"):
        return True
    try:
        return re.fullmatch(matcher, subject) is not None
    except re.error:
        return matcher == subject


def run_shell(
    command: str,
    cwd: str,
    stdin: bytes | None,
    timeout: float | None,
    cancelled: threading.Event | None,
    kill_on_cancel: bool = False,
    env: dict[str, str] | None = None,
) -> HookResult | None:
    """Run ``command`` with /bin/sh -c, writing ``stdin`` to it and closing it, watching
    ``cancelled`` every 20 ms. Returns None if cancelled (the process is killed or left
    to finish); a timeout kills it. Costs a thread, which owns the pipes."""
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output: list[tuple[bytes, bytes]] = []
    # Not communicate(timeout=...) in a loop: a retry without the input stops writing
    # it, and one with it fails once stdin is closed, so a payload bigger than the pipe
    # would never be fully written and the hook would wait for it until its timeout.
    pipes = threading.Thread(target=lambda: output.append(proc.communicate(stdin)), daemon=True)
    pipes.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pipes.join(0.02)
        if not pipes.is_alive():
            out, err = output[0]
            return HookResult(
                proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
            )
        if cancelled is not None and cancelled.is_set():
            if kill_on_cancel:
                _kill(proc, pipes)
            else:
                threading.Thread(target=_reap, args=(proc, pipes, deadline), daemon=True).start()
            return None
        if deadline is not None and time.monotonic() > deadline:
            _kill(proc, pipes)
            return HookResult(124, "", f"timed out after {timeout:g} s")


def _kill(proc: subprocess.Popen[bytes], pipes: threading.Thread) -> None:
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    pipes.join()


def _reap(proc: subprocess.Popen[bytes], pipes: threading.Thread, deadline: float | None) -> None:
    pipes.join(None if deadline is None else max(0, deadline - time.monotonic()))
    if pipes.is_alive():
        _kill(proc, pipes)
