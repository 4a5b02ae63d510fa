"""Any command line. No hooks: state comes from output quiescence and process exit."""

from __future__ import annotations

import os
import shutil

from sm.agents.base import Agent, Launch, LaunchSpec, Screen
from sm.errors import InvalidInput, Unavailable


class Shell(Agent):
    name = "shell"
    has_hooks = False
    interrupt_key = "C-c"
    clear_command = ""
    enter_delay = 0.05
    ready_from_screen = False

    def launch(self, spec: LaunchSpec) -> Launch:
        if spec.options.get("model"):
            raise InvalidInput("the shell provider has no models; --model is for claude "
                               "and codex")
        command = spec.options.get("command")
        if not command:
            raise InvalidInput("the shell provider needs a command: sm spawn shell -- CMD ARGS…")
        if not isinstance(command, list) or not all(
                isinstance(arg, str) and "\x00" not in arg for arg in command) or not command[0]:
            raise InvalidInput(f"options.command must be a list of program and arguments "
                               f"(non-empty strings), not {str(command)[:80]!r}: sm spawn "
                               "shell -- CMD ARGS…")
        _check_command(str(command[0]), spec)
        return Launch(argv=list(command))

    def read_screen(self, screen: str) -> Screen:
        return Screen(composer=None, busy=False)


def _check_command(program: str, spec: LaunchSpec) -> None:
    """Raises Unavailable when ``program`` cannot be run: tmux would start the pane and
    it would die at once. A path is taken relative to the session's cwd; a bare name is
    looked up on the agent's PATH."""
    if "/" in program:
        path = program if os.path.isabs(program) else str(spec.cwd / program)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise Unavailable(f"command {program!r} not found or not executable")
    elif shutil.which(program, path=spec.env.get("PATH")) is None:
        raise Unavailable(f"command {program!r} not found on the agent's PATH")
