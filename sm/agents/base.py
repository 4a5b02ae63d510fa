"""What every agent provider implements, and the values passed to it."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sm.agents.screen import StyledLine, parse, plain
from sm.errors import Unavailable


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a provider needs to start (or resume) one agent."""

    session_id: str
    cwd: Path
    session_dir: Path  # private to the session: settings files live here, never in the repo
    hook_command: str  # shell command line of sm's hook entry point; append the event name
    conversation_id: str  # the agent's own conversation id to start with, or to resume
    resume: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # what the agent inherits (read-only)
    # the command line of sm's stdio MCP server (``sm mcp``); empty: give the agent none
    mcp_command: tuple[str, ...] = ()


def mcp_server(spec: LaunchSpec) -> dict[str, Any] | None:
    """sm's MCP server as an agent's config names a stdio server (command, args, env),
    or None when it is off. The environment is spelled out: an agent CLI may start its
    MCP servers with less than its own (Codex passes only a few variables on)."""
    if not spec.mcp_command:
        return None
    env = {"SM_SESSION_ID": spec.session_id,
           "SM_SESSION_TOKEN_FILE": str(spec.session_dir.absolute() / "token")}
    if spec.env.get("SM_HOME"):
        env["SM_HOME"] = spec.env["SM_HOME"]
    return {"command": spec.mcp_command[0], "args": list(spec.mcp_command[1:]), "env": env}


@dataclass(frozen=True)
class Telemetry:
    """Where an agent exports its OpenTelemetry log events (sm's receiver), and the
    bearer secret it sends."""

    endpoint: str
    secret: str


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


class Provider(Protocol):
    name: str
    has_hooks: bool  # False: state comes from output quiescence and process exit
    interrupt_key: str  # the agent's own key to interrupt a turn
    clear_command: str  # typed to reset the conversation ("" when it has none)
    # True: SessionStart(source=clear) confirms a clear; False: no hook fires (Codex's
    # /new), so the screen does — the command leaves the composer, which is empty again
    clear_hook: bool
    # True: no hook says the agent is ready (Codex fires SessionStart only with the first
    # prompt), so sm reads readiness from the screen
    ready_from_screen: bool
    enter_delay: float  # seconds between pasting a message and pressing Enter
    # the agent's own keys on a permission prompt: allow (once), always, deny
    answer_keys: Mapping[str, str]
    # turn-end hooks that may repeat a turn already ended, or report another thread: sm
    # looks up the turns that ended recently before it applies one
    checked_turn_ends: frozenset[str]
    # variables of the daemon's environment the agent needs (names, or NAME* prefixes)
    # besides the allowlist every agent gets (sm/agents/env.py)
    env_passed: tuple[str, ...]

    def launch(self, spec: LaunchSpec) -> Launch:
        """The command line and environment that start the agent. May write files
        into ``spec.session_dir``. Raises Unavailable when the agent cannot run here."""
        ...

    def read_screen(self, screen: str) -> Screen:
        """What the pane shows: the composer's text and whether a turn runs. ``screen``
        is ``capture-pane -e`` output (SGR escapes kept); plain text must work too."""
        ...

    def ignored_turn_end(
        self, hook: str, payload: Mapping[str, Any], conversation_id: str | None,
        ended_turns: frozenset[str],
    ) -> str:
        """Why a turn-end hook in ``checked_turn_ends`` says nothing about this session's
        turn ("" when it does). ``ended_turns``: turn ids that ended recently."""
        ...

    def prompt_joins_turn(self, payload: Mapping[str, Any]) -> bool:
        """Whether a prompt submitted while a turn runs is answered inside that turn
        (its Stop is the prompt's), rather than owed a turn of its own after it."""
        ...

    def submitted_text(self, prompt: str) -> str:
        """The text the agent's UserPromptSubmit ``prompt`` shows was typed, without
        what the agent wraps around it."""
        ...

    def shows_paste(self, composer: str) -> bool:
        """Whether the composer's text shows a collapsed paste (``[Pasted text #1]``)."""
        ...


class Agent:
    """Defaults every provider shares; a provider overrides what differs."""

    answer_keys: Mapping[str, str] = {"allow": "1", "always": "2", "deny": "3"}
    checked_turn_ends: frozenset[str] = frozenset()
    clear_hook: bool = True
    env_passed: tuple[str, ...] = ()

    def ignored_turn_end(
        self, hook: str, payload: Mapping[str, Any], conversation_id: str | None,
        ended_turns: frozenset[str],
    ) -> str:
        return ""

    def prompt_joins_turn(self, payload: Mapping[str, Any]) -> bool:
        return False

    def submitted_text(self, prompt: str) -> str:
        return prompt.lstrip()

    def shows_paste(self, composer: str) -> bool:
        return "[Pasted text" in composer


@dataclass(frozen=True)
class Screen:
    composer: str | None  # None: no composer on screen (starting up, or a dialog over it)
    busy: bool
    interrupted: bool = False  # the transcript's last line is the agent's interrupt mark

    @property
    def ready(self) -> bool:
        """An empty composer and no turn running: safe to type a message."""
        return self.composer == "" and not self.busy


_BOX = "│┃|"
_CHOICE = re.compile(r"\d+\.\s")
_FRAME = " ─━═╭╮╰╯┌┐└┘│┃|"  # lines of only these are a box's edges


def read_prompt_screen(screen: str, glyphs: tuple[str, ...] = ("❯", ">")) -> Screen:
    """Screen reading shared by Claude Code-like TUIs: the composer is the last line
    that starts (inside an optional box border) with a prompt glyph — unless the glyph
    marks a numbered choice (a dialog); a faint placeholder counts as empty; a turn
    runs while the screen offers "esc to interrupt"."""
    composer = None
    lines = parse(screen.rstrip())
    at = 0
    for at in range(len(lines) - 1, -1, -1):
        line = lines[at]
        stripped = line.text.lstrip().lstrip(_BOX).lstrip()
        offset = len(line.text) - len(stripped)
        text = stripped.rstrip().rstrip(_BOX).rstrip()
        for glyph in glyphs:
            if text == glyph or text.startswith((glyph + " ", glyph + "\u00a0")):
                rest = text[len(glyph):].strip()
                if _CHOICE.match(rest):
                    return Screen(composer=None, busy=False)
                composer = "" if line.is_placeholder(offset + len(glyph)) else rest
                break
        if composer is not None:
            break
    return Screen(composer=composer, busy="esc to interrupt" in plain(screen).lower(),
                  interrupted=composer is not None and interrupted_above(lines, at))


def interrupted_above(lines: list[StyledLine], at: int) -> bool:
    """Whether the transcript line just above line ``at`` (skipping blank lines and
    right-aligned status lines) is an interrupt mark, ``⎿  Interrupted …``: the turn was
    interrupted and nothing came after it."""
    for line in reversed(lines[:at]):
        text = line.text.strip()
        if not text.strip(_FRAME) or len(line.text) - len(line.text.lstrip()) > 20:
            continue
        return text.startswith("⎿") and "Interrupted" in text
    return False


def hook_script() -> Path:
    """sm's hook entry point: in a wheel under ``sm/_hooks``, in a checkout under ``hooks/``."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_hooks" / "sm_hook.py", package.parent / "hooks" / "sm_hook.py"):
        if candidate.exists():
            return candidate
    raise Unavailable("sm's hook entry point (hooks/sm_hook.py) is missing from the install")


def hook_command() -> str:
    """The shell command line agents run for a hook (stdlib only, no site: fast)."""
    return shlex.join([sys.executable, "-I", "-S", str(hook_script())])


def mcp_command() -> tuple[str, ...]:
    """The command line agents run for sm's stdio MCP server: this interpreter, isolated
    (the agent's cwd or PYTHONPATH never shadow sm), running ``sm mcp``."""
    return (sys.executable, "-I", "-m", "sm", "mcp")


def find_binary(binary: str, what: str, key: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise Unavailable(f"{what} not found (tried {binary!r}); install it or set {key}")
    return path
