"""Any command line. No hooks: state comes from output quiescence and process exit."""

from __future__ import annotations

from sm.agents.base import Agent, Launch, LaunchSpec, Screen
from sm.errors import InvalidInput


class Shell(Agent):
    name = "shell"
    has_hooks = False
    interrupt_key = "C-c"
    clear_command = ""
    enter_delay = 0.05
    ready_from_screen = False

    def launch(self, spec: LaunchSpec) -> Launch:
        command = list(spec.options.get("command") or [])
        if not command:
            raise InvalidInput("the shell provider needs a command: sm spawn shell -- CMD ARGS…")
        return Launch(argv=command)

    def read_screen(self, screen: str) -> Screen:
        return Screen(composer=None, busy=False)
