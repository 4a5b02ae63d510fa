"""Claude Code, started straight into a ready composer with sm's hooks.

Claude Code keeps its global state (``.claude.json``: onboarding, trusted folders,
approved API keys), its transcripts and its credentials in one config directory,
``$CLAUDE_CONFIG_DIR`` (default ``~/.claude`` with ``~/.claude.json`` beside it), and
rewrites ``.claude.json`` while it runs. sm points ``CLAUDE_CONFIG_DIR`` at
``<session dir>/claude`` so each agent has its own, and never writes the user's:

* ``.claude.json`` starts as a copy of the user's (their account, preferences), plus
  the answers that would otherwise stop the TUI at a dialog: onboarding done, the
  session's cwd trusted, the ``ANTHROPIC_API_KEY`` it inherits approved;
* the user's credentials, settings, ``CLAUDE.md``, agents, commands and skills are
  symlinked in, so the agent logs in and behaves as the user's own Claude does;
* hooks and the permission mode come from a per-session ``--settings`` file, sm's MCP
  server (``sm mcp``, unless ``mcp.agents`` is off) from a per-session ``--mcp-config``.

The model endpoint comes from the daemon's environment, of which the agent gets
Claude Code's own variables (``ANTHROPIC_*`` such as ``ANTHROPIC_API_KEY`` and
``ANTHROPIC_BASE_URL``, ``CLAUDE_*``, its ``DISABLE_*`` switches, ``IS_SANDBOX``) and the
allowlist every agent gets; sm adds no keys of its own.
Facts measured against Claude Code 2.1.330 (tests/e2e/FACTS.md).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sm.agents.base import (
    Agent,
    Launch,
    LaunchSpec,
    Screen,
    Telemetry,
    find_binary,
    interrupted_above,
    mcp_server,
)
from sm.agents.claude_usage import SESSION_ATTRIBUTE
from sm.agents.screen import StyledLine, parse
from sm.config import ClaudeSettings

HOOK_EVENTS = (
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure",
    "PermissionRequest", "PermissionDenied", "Stop", "StopFailure", "Notification", "PreCompact",
    "SessionEnd",
)
_TOOL_EVENTS = ("PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest",
                "PermissionDenied")
# what the agent reads from the user's own config directory, where it is
SHARED = (".credentials.json", "settings.json", "CLAUDE.md", "agents", "commands", "skills",
          "output-styles")
BYPASS = "bypassPermissions"


def hook_settings(hook_command: str, timeout: int = 10) -> dict[str, Any]:
    """Claude Code's settings ``hooks`` block routing every event to sm's hook."""
    hooks: dict[str, Any] = {}
    for event in HOOK_EVENTS:
        entry: dict[str, Any] = {
            "hooks": [{"type": "command", "command": f"{hook_command} {event}", "timeout": timeout}]
        }
        if event in _TOOL_EVENTS:
            entry["matcher"] = "*"
        hooks[event] = [entry]
    return {"hooks": hooks}


def telemetry_env(
    telemetry: Telemetry, session_id: str, inherited: Mapping[str, str]
) -> dict[str, str]:
    """Claude Code's OpenTelemetry logs export to sm's receiver, tagged with the sm
    session. Only the logs signal is redirected: the user's own metrics exporter and
    resource attributes are kept."""
    attributes = f"{SESSION_ATTRIBUTE}={session_id}"
    if inherited.get("OTEL_RESOURCE_ATTRIBUTES"):
        attributes = f"{inherited['OTEL_RESOURCE_ATTRIBUTES']},{attributes}"
    env = {
        "CLAUDE_CODE_ENABLE_TELEMETRY": "1",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": telemetry.endpoint,
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS": f"authorization=Bearer {telemetry.secret}",
        "OTEL_LOGS_EXPORT_INTERVAL": "1000",
        "OTEL_RESOURCE_ATTRIBUTES": attributes,
    }
    if not inherited.get("OTEL_METRICS_EXPORTER"):
        env["OTEL_METRICS_EXPORTER"] = "none"
    return env


def user_config_dir(env: Mapping[str, str]) -> Path | None:
    """The user's own Claude config directory (None without ``HOME`` or the variable)."""
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"]).expanduser()
    return Path(env["HOME"]) / ".claude" if env.get("HOME") else None


def _user_global_config(env: Mapping[str, str]) -> Path | None:
    if env.get("CLAUDE_CONFIG_DIR"):
        return Path(env["CLAUDE_CONFIG_DIR"]).expanduser() / ".claude.json"
    return Path(env["HOME"]) / ".claude.json" if env.get("HOME") else None


def global_config(
    existing: Mapping[str, Any], cwd: Path, api_key: str = ""
) -> dict[str, Any]:
    """``existing`` with the answers that let the TUI start with no dialog: onboarding
    done (else the theme picker), ``cwd`` trusted (else "Do you trust the files in
    this folder?", keyed by the resolved path), and the key approved by its last 20
    characters (else "Do you want to use this API key?")."""
    cfg = dict(existing)
    cfg["hasCompletedOnboarding"] = True
    if api_key:
        responses = dict(cfg.get("customApiKeyResponses") or {})
        approved = list(responses.get("approved") or [])
        if api_key[-20:] not in approved:
            approved.append(api_key[-20:])
        responses["approved"] = approved
        responses.setdefault("rejected", [])
        cfg["customApiKeyResponses"] = responses
    projects = dict(cfg.get("projects") or {})
    project = dict(projects.get(str(cwd)) or {})
    project["hasTrustDialogAccepted"] = True
    projects[str(cwd)] = project
    cfg["projects"] = projects
    return cfg


def prepare_config_dir(config_dir: Path, cwd: Path, env: Mapping[str, str]) -> None:
    """Write (or, on a restore, update) the session's config directory. Reads the
    user's ``.claude.json`` once, at the first launch; never writes outside
    ``config_dir``."""
    config_dir.mkdir(parents=True, exist_ok=True)
    mine = config_dir / ".claude.json"
    existing: dict[str, Any] = _read_json(mine) if mine.exists() else {}
    if not mine.exists():
        source = _user_global_config(env)
        user = _read_json(source) if source is not None and source.is_file() else {}
        existing = {k: v for k, v in user.items() if k != "projects"}
        if isinstance(user.get("projects"), dict) and str(cwd) in user["projects"]:
            existing["projects"] = {str(cwd): user["projects"][str(cwd)]}
    cfg = global_config(existing, cwd, env.get("ANTHROPIC_API_KEY", ""))
    tmp = mine.with_suffix(".json.sm-tmp")
    tmp.write_text(json.dumps(cfg, indent=2))
    os.replace(tmp, mine)
    user_dir = user_config_dir(env)
    if user_dir is None or user_dir.resolve() == config_dir.resolve():
        return
    for name in SHARED:
        link, target = config_dir / name, user_dir / name
        if target.exists() and not link.exists() and not link.is_symlink():
            link.symlink_to(target)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_PASTED = re.compile(r'<pasted_content id="[^"<>]{0,64}">')


class Claude(Agent):
    name = "claude"
    has_hooks = True
    interrupt_key = "Escape"
    clear_command = "/clear"
    # a bracketed paste then Enter submitted every time even with no pause (2.1.330)
    enter_delay = 0.1
    ready_from_screen = False  # SessionStart fires at launch
    env_passed: tuple[str, ...] = (
        "ANTHROPIC_*", "CLAUDE_*", "DISABLE_*", "IS_SANDBOX", "MAX_THINKING_TOKENS",
        "BASH_DEFAULT_TIMEOUT_MS", "BASH_MAX_TIMEOUT_MS", "MCP_TIMEOUT",
    )

    def __init__(self, settings: ClaudeSettings, telemetry: Telemetry | None = None) -> None:
        self.settings = settings
        self.telemetry = telemetry

    def launch(self, spec: LaunchSpec) -> Launch:
        binary = find_binary(self.settings.binary, "Claude Code CLI", "claude.binary")
        config_dir = spec.session_dir.absolute() / "claude"
        prepare_config_dir(config_dir, spec.cwd, spec.env)
        mode = str(spec.options.get("permission_mode") or self.settings.permission_mode)
        settings = hook_settings(spec.hook_command)
        if mode == BYPASS:
            # else a "Bypass Permissions mode" warning opens first, and its default exits
            settings["skipDangerousModePermissionPrompt"] = True
        settings_file = spec.session_dir / "claude-settings.json"
        settings_file.write_text(json.dumps(settings, indent=2))
        argv = [binary, "--settings", str(settings_file)]
        server = mcp_server(spec)
        if server is not None:  # before other flags: --mcp-config takes several values
            mcp_file = spec.session_dir / "claude-mcp.json"
            mcp_file.write_text(json.dumps({"mcpServers": {"sm": {"type": "stdio", **server}}},
                                           indent=2))
            argv += ["--mcp-config", str(mcp_file)]
        if spec.resume:
            argv += ["--resume", spec.conversation_id]
        else:
            argv += ["--session-id", spec.conversation_id]
        model = spec.options.get("model") or self.settings.model
        if model:
            argv += ["--model", str(model)]
        if mode:
            argv += ["--permission-mode", mode]
        argv += shlex.split(self.settings.args)
        env = {"CLAUDE_CONFIG_DIR": str(config_dir)}
        if self.telemetry is not None:
            env.update(telemetry_env(self.telemetry, spec.session_id, spec.env))
        return Launch(argv=argv, env=env)

    def submitted_text(self, prompt: str) -> str:
        """Claude Code wraps a pasted block: ``<pasted_content id="…">\nTEXT\n</…>``."""
        text = prompt.lstrip()
        match = _PASTED.match(text)
        return text[match.end():].lstrip() if match else text

    def read_screen(self, screen: str) -> Screen:
        return read_claude_screen(screen)


_RULE = re.compile(r"^─{20,}$")
_GLYPH = "❯"
_MAX_FOOTER = 6  # lines under the composer box: mode, hints, notices


def read_claude_screen(screen: str) -> Screen:
    """Claude Code's composer is a ``❯`` line (continued by indented lines) between two
    full-width ``─`` rules, under which only the footer follows; the footer says
    "esc to interrupt" while a turn runs. A permission dialog replaces the box (its
    choices are ``❯ 1. Yes`` lines under a single rule): no composer then."""
    lines = parse(screen.rstrip())
    rules = [i for i, line in enumerate(lines) if _RULE.match(line.text.strip())]
    if len(rules) < 2:
        return Screen(composer=None, busy=False)
    top, bottom = rules[-2], rules[-1]
    footer = [line.text for line in lines[bottom + 1:] if line.text.strip()]
    busy = any("esc to interrupt" in text for text in footer)
    box = lines[top + 1:bottom]
    if len(footer) > _MAX_FOOTER or not box or not box[0].text.startswith(_GLYPH):
        return Screen(composer=None, busy=busy)
    return Screen(composer=_composer_text(box), busy=busy,
                  interrupted=interrupted_above(lines, top))


def _composer_text(box: list[StyledLine]) -> str:
    first = box[0]
    if len(box) == 1 and first.is_placeholder(len(_GLYPH)):
        return ""  # e.g. "Press up to edit queued messages"
    text = [first.text[len(_GLYPH):].strip()] + [line.text.strip() for line in box[1:]]
    return "\n".join(text).strip()
