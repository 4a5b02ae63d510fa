"""sm's built-in simulated agent (``sm/agents/scripted_agent.py``) as a provider.

It reads the same ``--settings`` hooks block Claude Code reads, so it exercises the
exact hook path a real agent does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sm.agents.base import Agent, Launch, LaunchSpec, Screen, read_prompt_screen
from sm.agents.claude import hook_settings
from sm.agents.scripted_script import ScriptError, read_script
from sm.config import ScriptedSettings
from sm.errors import InvalidInput

DEFAULT_SCRIPT = Path(__file__).parent / "scripts" / "default.yaml"


class Scripted(Agent):
    name = "scripted"
    has_hooks = True
    interrupt_key = "Escape"
    clear_command = "/clear"
    enter_delay = 0.0
    ready_from_screen = False
    env_passed: tuple[str, ...] = ("SM_SCRIPTED_*",)

    def __init__(self, settings: ScriptedSettings) -> None:
        self.settings = settings

    def launch(self, spec: LaunchSpec) -> Launch:
        if spec.options.get("model"):
            raise InvalidInput("the scripted provider has no models; --model is for claude "
                               "and codex")
        script = Path(str(spec.options.get("script") or self.settings.script or DEFAULT_SCRIPT))
        if not script.is_file():
            raise InvalidInput(f"scripted agent script {script} does not exist")
        if script != DEFAULT_SCRIPT:  # the built-in one is checked by the tests
            try:
                read_script(str(script))  # a bad script fails the spawn, not the agent later
            except ScriptError as exc:
                raise InvalidInput(str(exc)) from None
        settings_file = spec.session_dir / "settings.json"
        settings_file.write_text(json.dumps(hook_settings(spec.hook_command), indent=2))
        argv = [
            sys.executable, "-m", "sm.agents.scripted_agent",
            "--settings", str(settings_file),
            "--script", str(script),
            "--session-id", spec.conversation_id,
            "--transcript-dir", str(spec.session_dir / "transcripts"),
            "--cwd", str(spec.cwd),
        ]
        if spec.resume:
            argv += ["--resume", spec.conversation_id]
        return Launch(argv=argv, env={"SM_SCRIPTED_SPEED": str(self.settings.speed)})

    def read_screen(self, screen: str) -> Screen:
        return read_prompt_screen(screen)
