"""Codex CLI, started straight into a ready composer with sm's hooks and ``notify``.

Codex keeps its config, login, threads and state in ``$CODEX_HOME`` (default
``~/.codex``) and writes into its ``config.toml`` while it runs, so sm gives each agent
its own ``CODEX_HOME`` (``<session dir>/codex``) and never writes the user's:

* ``config.toml`` is the user's (parsed, so their providers, MCP servers and answered
  notices come along) with sm's keys set over it: ``notify``, the cwd trusted, no
  update check, no login shell for commands (it would reset ``PATH`` and lose ``sm``),
  the model, provider and permissions sm was told to use, sm's MCP server
  (``mcp_servers.sm``, unless ``mcp.agents`` is off; with it a first turn that waits
  up to 10 s for MCP servers still starting, ``mcp_optional_startup_grace_ms``, unless
  the user set it), and a ``trusted_hash`` for each of sm's hooks — untrusted hooks open
  a "Hooks need review" dialog at start;
* ``hooks.json`` routes every hook event to sm's hook entry point;
* the user's ``auth.json``, ``AGENTS.md``, prompts and skills are symlinked in.

Codex runs with ``--no-daemon``: otherwise it copies its binary into ``CODEX_HOME`` and
leaves an app-server daemon running after the agent is gone. ``codex.base_url`` (a
Responses API, e.g. a proxy) becomes a ``model_providers.sm`` entry whose bearer key
is read from the variable ``codex.env_key``. Facts measured against Codex 0.169.0
(tests/e2e/FACTS.md).
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sm.agents.base import Agent, Launch, LaunchSpec, Screen, find_binary, mcp_server
from sm.agents.screen import parse
from sm.config import CodexSettings

HOOK_EVENTS = (
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest",
    "Stop", "Interrupt", "SessionEnd", "PreCompact", "PostCompact",
)
_TOOL_EVENTS = ("PreToolUse", "PostToolUse", "PermissionRequest")
_SHORT_EVENTS = ("SessionEnd", "Interrupt")  # Codex caps these hooks' timeout at 1 s
SHARED = ("auth.json", "AGENTS.md", "prompts", "skills")
# sm's own keys replace the user's: their hooks would be untrusted under this home
_REPLACED = ("notify", "hooks")
YOLO = ("never", "danger-full-access")
# How long Codex's first turn waits for MCP servers still starting (its own default, 1 s,
# then leaves them out of that turn). sm types the first prompt the moment the composer is
# up, before its server has answered (a cold daemon loads the MCP SDK first, 1-4 s). The
# turn's UserPromptSubmit waits too: this stays under the delivery's receipt window.
MCP_STARTUP_WAIT_MS = 10_000


def hooks_doc(hook_command: str, timeout: int = 10) -> dict[str, Any]:
    """The content of ``$CODEX_HOME/hooks.json`` (Claude Code's shape)."""
    hooks: dict[str, list[dict[str, Any]]] = {}
    for event in HOOK_EVENTS:
        handler = {"type": "command", "command": f"{hook_command} {event}",
                   "timeout": 1 if event in _SHORT_EVENTS else timeout}
        group: dict[str, Any] = {"hooks": [handler]}
        if event in _TOOL_EVENTS:
            group = {"matcher": "", **group}
        hooks[event] = [group]
    return {"hooks": hooks}


def trusted_hash(event: str, group: Mapping[str, Any]) -> str:
    """What Codex 0.169.0 records when a person trusts a hook: sha256 of the compact,
    key-sorted JSON of ``{event_name (snake case), matcher (when the group has one),
    hooks: [{async, command, timeout, type}]}``."""
    handler = group["hooks"][0]
    identity: dict[str, Any] = {
        "event_name": _snake(event),
        "hooks": [{
            "async": False, "command": handler["command"],
            "timeout": int(handler.get("timeout") or (1 if event in _SHORT_EVENTS else 600)),
            "type": "command",
        }],
    }
    if "matcher" in group:
        identity["matcher"] = group["matcher"]
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def _snake(event: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", event).lower()


def user_codex_home(env: Mapping[str, str]) -> Path | None:
    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"]).expanduser()
    return Path(env["HOME"]) / ".codex" if env.get("HOME") else None


NOTIFY = "agent-turn-complete"  # Codex's notify program, run once per finished turn


class Codex(Agent):
    name = "codex"
    has_hooks = True
    interrupt_key = "Escape"
    clear_command = "/new"
    # a bracketed paste then Enter submitted every time even with no pause (0.169.0)
    enter_delay = 0.1
    ready_from_screen = True  # SessionStart fires only with the first prompt
    # digits and Escape answer both of its dialogs: a command's ("1. Yes, proceed (y)",
    # "2. Yes, and don't ask again …", "3. No … (esc)") and an MCP tool call's ("1. Allow",
    # "2. Allow for this session", …, "4. Cancel", "esc to cancel"), which ignores y/a/n
    answer_keys: Mapping[str, str] = {"allow": "1", "always": "2", "deny": "Escape"}
    checked_turn_ends: frozenset[str] = frozenset({NOTIFY})
    clear_hook = False  # /new fires no hook; the next SessionStart says "startup"

    def __init__(self, settings: CodexSettings) -> None:
        self.settings = settings
        # its provider's key (OPENAI_API_KEY, or codex.env_key for codex.base_url)
        self.env_passed = ("OPENAI_*", "CODEX_*", "RUST_LOG", settings.env_key)

    def ignored_turn_end(
        self, hook: str, payload: Mapping[str, Any], conversation_id: str | None,
        ended_turns: frozenset[str],
    ) -> str:
        """``notify`` (agent-turn-complete) fires for Codex's own title thread too
        (another thread id than the hooks report), and right after the Stop hook of the
        same turn."""
        thread = str(payload.get("thread-id") or "")
        if thread and conversation_id and thread != conversation_id:
            return "other thread"
        turn = payload.get("turn-id")
        if turn and str(turn) in ended_turns:
            return "turn already ended"
        return ""

    def prompt_joins_turn(self, payload: Mapping[str, Any]) -> bool:
        """Codex folds a prompt submitted mid-turn (it carries the turn's id) into the
        running turn: that turn's Stop is the prompt's."""
        return "turn_id" in payload

    def launch(self, spec: LaunchSpec) -> Launch:
        binary = find_binary(self.settings.binary, "Codex CLI", "codex.binary")
        home = spec.session_dir.absolute() / "codex"
        home.mkdir(parents=True, exist_ok=True)
        user_home = user_codex_home(spec.env)
        hooks = hooks_doc(spec.hook_command)
        hooks_file = home / "hooks.json"
        hooks_file.write_text(json.dumps(hooks, indent=2))
        config_file = home / "config.toml"
        base = config_file if config_file.exists() else (user_home or home) / "config.toml"
        config = self.config(_read_toml(base), spec, hooks_file, hooks)
        config_file.write_text(dump_toml(config))
        if user_home is not None and user_home.resolve() != home.resolve():
            for name in SHARED:
                link, target = home / name, user_home / name
                if target.exists() and not link.exists() and not link.is_symlink():
                    link.symlink_to(target)
        argv = [binary]
        # sm records a placeholder id until the first prompt reveals the thread's own
        if spec.resume and any(home.glob(f"sessions/*/*/*/rollout-*-{spec.conversation_id}.jsonl")):
            argv += ["resume", spec.conversation_id]
        argv += ["--no-daemon", *shlex.split(self.settings.args)]
        return Launch(argv=argv, env={"CODEX_HOME": str(home)})

    def config(
        self, base: dict[str, Any], spec: LaunchSpec, hooks_file: Path, hooks: dict[str, Any]
    ) -> dict[str, Any]:
        """``base`` (the user's config.toml, or this session's on a restore) with sm's
        keys set over it."""
        cfg = {k: v for k, v in base.items() if k not in _REPLACED}
        cfg["notify"] = [*shlex.split(spec.hook_command), "agent-turn-complete"]
        cfg["check_for_update_on_startup"] = False
        # a login shell re-reads /etc/profile, whose PATH has no `sm` for the agent to call
        cfg["allow_login_shell"] = False
        model = spec.options.get("model") or self.settings.model
        if model:
            cfg["model"] = str(model)
        approval, sandbox = self.settings.approval_policy, self.settings.sandbox_mode
        mode = str(spec.options.get("permission_mode") or "")
        if mode in ("bypassPermissions", "yolo"):
            approval, sandbox = YOLO
        elif mode:
            approval = mode
        if approval:
            cfg["approval_policy"] = approval
        if sandbox:
            cfg["sandbox_mode"] = sandbox
        if self.settings.base_url:
            cfg["model_provider"] = "sm"
            providers = dict(cfg.get("model_providers") or {})
            providers["sm"] = {
                "name": "sm", "base_url": self.settings.base_url.rstrip("/"),
                "wire_api": "responses", "env_key": self.settings.env_key,
            }
            cfg["model_providers"] = providers
        projects = dict(cfg.get("projects") or {})
        projects[str(spec.cwd)] = {**dict(projects.get(str(spec.cwd)) or {}),
                                   "trust_level": "trusted"}
        cfg["projects"] = projects
        cfg["tui"] = {**dict(cfg.get("tui") or {}), "screen_reader_detection_done": True}
        server = mcp_server(spec)
        if server is not None:
            cfg["mcp_servers"] = {**dict(cfg.get("mcp_servers") or {}), "sm": server}
            cfg.setdefault("mcp_optional_startup_grace_ms", MCP_STARTUP_WAIT_MS)
        path = str(hooks_file.resolve())
        cfg["hooks"] = {"state": {
            f"{path}:{_snake(event)}:0:0": {"trusted_hash": trusted_hash(event, groups[0])}
            for event, groups in hooks["hooks"].items()
        }}
        return cfg

    def read_screen(self, screen: str) -> Screen:
        return read_codex_screen(screen)


def _read_toml(path: Path) -> dict[str, Any]:
    import tomllib  # only when a Codex session starts

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML for a parsed config: scalars and arrays first, then one ``[table]`` per
    nested mapping (arrays of tables are written inline)."""
    out: list[str] = []
    _dump_table(data, (), out)
    return "\n".join(out).lstrip("\n") + "\n"


def _dump_table(data: Mapping[str, Any], path: tuple[str, ...], out: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if path and (scalars or not tables):
        out.append("")
        out.append("[" + ".".join(_key(p) for p in path) + "]")
    for key, value in scalars.items():
        out.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _dump_table(value, (*path, key), out)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))  # dates and times keep their text


# -- the screen -------------------------------------------------------------------------

_HEADER = ">_ OpenAI Codex"
_GLYPH = "›"
_CHOICE = re.compile(r"\d+\.\s")
_STATUS_LINES = 6  # how far above the composer the "• Working (… esc to interrupt)" line sits


def read_codex_screen(screen: str) -> Screen:
    """Codex's composer is the last ``›`` line (an empty one shows a faint placeholder);
    a ``› 1.`` line is a dialog's choice instead; while the header's cwd line still
    reads ``loading`` the TUI is starting. A turn runs while "esc to interrupt" shows
    just above the composer — only until assistant text streams: then the screen
    cannot tell, and the hooks do."""
    lines = parse(screen.rstrip())
    for i, line in enumerate(lines[:-1]):
        if line.text.strip().startswith(_HEADER) and lines[i + 1].text.strip() == "loading":
            return Screen(composer=None, busy=False)
    for i in range(len(lines) - 1, -1, -1):
        text = lines[i].text
        stripped = text.lstrip()
        if not (stripped == _GLYPH or stripped.startswith((_GLYPH + " ", _GLYPH + "\u00a0"))):
            continue
        rest = stripped[len(_GLYPH):].strip()
        if _CHOICE.match(rest):
            return Screen(composer=None, busy=False)
        above = [line.text for line in lines[max(0, i - _STATUS_LINES):i]]
        busy = any("esc to interrupt" in t for t in above)
        offset = len(text) - len(stripped) + len(_GLYPH)
        if not rest or lines[i].is_placeholder(offset):
            return Screen(composer="", busy=busy)
        more = [line.text.strip() for line in lines[i + 1:]]
        # a multi-line composer continues on indented lines until the blank before the footer
        body = [rest]
        for extra in more:
            if not extra:
                break
            body.append(extra)
        return Screen(composer="\n".join(body).strip(), busy=busy)
    return Screen(composer=None, busy=False)
