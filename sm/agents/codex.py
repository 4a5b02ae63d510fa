"""Codex CLI: launched with a per-session ``CODEX_HOME`` whose config carries sm's
hooks and ``notify`` (turn complete)."""

from __future__ import annotations

import json
import shlex

from sm.agents.base import Launch, LaunchSpec, Screen, read_prompt_screen, find_binary
from sm.config import CodexSettings


class Codex:
    name = "codex"
    has_hooks = True
    interrupt_key = "Escape"
    clear_command = "/new"

    def __init__(self, settings: CodexSettings) -> None:
        self.settings = settings

    def launch(self, spec: LaunchSpec) -> Launch:
        binary = find_binary(self.settings.binary, "Codex CLI", "codex.binary")
        home = spec.session_dir / "codex"
        home.mkdir(parents=True, exist_ok=True)
        notify = [*shlex.split(spec.hook_command), "agent-turn-complete"]
        lines = [f"notify = {json.dumps(notify)}"]
        model = spec.options.get("model") or self.settings.model
        if model:
            lines.append(f"model = {json.dumps(str(model))}")
        (home / "config.toml").write_text("\n".join(lines) + "\n")
        argv = [binary, "--dangerously-bypass-hook-trust"]
        if spec.resume:
            argv += ["resume", spec.conversation_id]
        argv += shlex.split(self.settings.args)
        return Launch(argv=argv, env={"CODEX_HOME": str(home)})

    def read_screen(self, screen: str) -> Screen:
        return read_prompt_screen(screen, ("›", "❯", ">"))
