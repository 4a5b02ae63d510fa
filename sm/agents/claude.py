"""Claude Code: launched with a per-session ``--settings`` file that installs sm's hooks.

Nothing is written into the user's repo or their own Claude settings.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from sm.agents.base import Launch, LaunchSpec, Screen, read_prompt_screen, find_binary
from sm.config import ClaudeSettings

HOOK_EVENTS = (
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
    "Notification", "PreCompact", "SessionEnd",
)


def hook_settings(hook_command: str, timeout: int = 10) -> dict[str, Any]:
    """Claude Code's settings ``hooks`` block routing every event to sm's hook."""
    hooks: dict[str, Any] = {}
    for event in HOOK_EVENTS:
        entry: dict[str, Any] = {
            "hooks": [{"type": "command", "command": f"{hook_command} {event}", "timeout": timeout}]
        }
        if event in ("PreToolUse", "PostToolUse"):
            entry["matcher"] = "*"
        hooks[event] = [entry]
    return {"hooks": hooks}


class Claude:
    name = "claude"
    has_hooks = True
    interrupt_key = "Escape"
    clear_command = "/clear"

    def __init__(self, settings: ClaudeSettings) -> None:
        self.settings = settings

    def launch(self, spec: LaunchSpec) -> Launch:
        binary = find_binary(self.settings.binary, "Claude Code CLI", "claude.binary")
        settings_file = spec.session_dir / "claude-settings.json"
        settings_file.write_text(json.dumps(hook_settings(spec.hook_command), indent=2))
        argv = [binary, "--settings", str(settings_file)]
        if spec.resume:
            argv += ["--resume", spec.conversation_id]
        else:
            argv += ["--session-id", spec.conversation_id]
        model = spec.options.get("model") or self.settings.model
        if model:
            argv += ["--model", str(model)]
        mode = spec.options.get("permission_mode") or self.settings.permission_mode
        if mode:
            argv += ["--permission-mode", str(mode)]
        argv += shlex.split(self.settings.args)
        return Launch(argv=argv)

    def read_screen(self, screen: str) -> Screen:
        return read_prompt_screen(screen)
