"""What the real Claude Code and Codex CLIs need to start straight into a ready composer.

Everything here writes into directories the caller owns (a temp ``HOME``, a private
``CODEX_HOME``, a per-session settings file) — never into the user's own ``~/.claude`` or
``~/.codex``. Each function states the fact it encodes and why it is needed; the facts were
measured against Claude Code 2.1.330 and Codex 0.169.0 (see ``FACTS.md`` beside this file).

Stdlib only, so the sm daemon's ``claude`` and ``codex`` providers can reuse the same facts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLAUDE_VERSION = "2.1.330"
CODEX_VERSION = "0.169.0"

REPO_ROOT = Path(__file__).resolve().parents[2]

#: A syntactically valid, obviously fake Anthropic key. Claude Code only checks its shape
#: locally; the fake server accepts anything.
FAKE_ANTHROPIC_KEY = "sk-ant-api03-e2e-fake-key-00000000000000000000-scriptedAA"
#: The key Codex sends as ``Authorization: Bearer …`` to the custom provider.
FAKE_OPENAI_KEY = "sk-e2e-fake-openai-key"

# Variables that would steer a CLI away from the fake server or the private home.
_SCRUB_PREFIXES = ("ANTHROPIC_", "CLAUDE", "OPENAI_", "CODEX_", "AWS_BEARER_TOKEN_BEDROCK")
_SCRUB_NAMES = {"IS_SANDBOX", "DISABLE_TELEMETRY", "TMUX", "TMUX_PANE", "TERM"}


# ============================================================================================
# Locating the CLIs
# ============================================================================================


def agents_cli_dir() -> Path:
    """Where ``scripts/install-agent-clis.sh`` puts the pinned CLIs (``<repo>/.agents-cli``).

    ``SM_AGENTS_CLI_DIR`` overrides it, as it does for the install script.
    """
    return Path(os.environ.get("SM_AGENTS_CLI_DIR") or REPO_ROOT / ".agents-cli")


def _find_bin(name: str) -> Path | None:
    local = agents_cli_dir() / "node_modules" / ".bin" / name
    if local.exists():
        return local
    found = shutil.which(name)
    return Path(found) if found else None


def claude_bin() -> Path | None:
    """The ``claude`` executable: the project-local pinned one, else one on ``PATH``.

    The npm package ships a native binary (``bin/claude.exe``); no node is needed at run time.
    """
    return _find_bin("claude")


def codex_bin() -> Path | None:
    """The ``codex`` executable: the project-local pinned one, else one on ``PATH``.

    ``bin/codex.js`` is a node launcher for the native ``@openai/codex-linux-x64`` binary.
    """
    return _find_bin("codex")


def clean_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) without variables that would steer an agent.

    Inherited ``ANTHROPIC_*`` / ``CLAUDE*`` / ``OPENAI_*`` / ``CODEX_*`` variables would point
    the CLI at a real service or a real home, and ``TMUX`` would make a nested tmux client
    talk to the wrong server. ``TERM`` is dropped too: the pane's own (tmux sets it from
    ``default-terminal``) is the right one — see :meth:`Launch.shell_command`.
    """
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key.startswith(_SCRUB_PREFIXES) or key in _SCRUB_NAMES:
            del env[key]
    env.setdefault("LANG", "C.UTF-8")
    return env


@dataclass
class Launch:
    """How to start an agent: ``argv`` run in ``cwd`` with exactly ``env``."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    files: dict[str, Path] = field(default_factory=dict)  # what was written, by role

    def shell_command(self) -> str:
        """One shell command line (``cd … && exec env -i K=V … argv``) for tmux new-session.

        ``env -i`` makes the pane's environment exactly :attr:`env`, whatever the tmux server's
        global environment holds — except ``TERM``, kept from the pane unless :attr:`env` sets
        it (both TUIs read it; tmux gives ``tmux-256color`` / ``screen``).
        """
        import shlex

        assigns = " ".join(shlex.quote(f"{k}={v}") for k, v in sorted(self.env.items()))
        if "TERM" not in self.env:
            assigns = '"TERM=${TERM:-xterm-256color}" ' + assigns
        return f"cd {shlex.quote(str(self.cwd))} && exec env -i {assigns} " + " ".join(
            shlex.quote(a) for a in self.argv
        )


# ============================================================================================
# Claude Code
# ============================================================================================

#: Hook events worth wiring for a session manager. All fire in interactive mode (2.1.330).
#: ``PermissionRequest`` fires the moment the permission dialog opens; ``Notification``
#: (``notification_type: permission_prompt``) only ~6 s later.
CLAUDE_HOOK_EVENTS: tuple[str, ...] = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "Notification",
    "Stop",
    "StopFailure",
    "SubagentStop",
    "PreCompact",
    "SessionEnd",
)
#: Events whose matcher group takes a tool-name ``matcher`` (``""`` = every tool).
_CLAUDE_TOOL_EVENTS = {"PreToolUse", "PostToolUse", "PostToolUseFailure", "PermissionRequest"}


def claude_key_fingerprint(api_key: str) -> str:
    """What ``.claude.json`` stores to remember an approved API key: its last 20 characters.

    Without it, interactive Claude Code asks "Do you want to use this API key?" at start.
    """
    return api_key[-20:]


def claude_global_config(
    trusted_dirs: Iterable[str | os.PathLike[str]],
    *,
    api_key: str = FAKE_ANTHROPIC_KEY,
    existing: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``$HOME/.claude.json`` that lets interactive Claude Code start with no dialog.

    * ``hasCompletedOnboarding: true`` — else the theme picker / login onboarding runs first.
    * ``customApiKeyResponses.approved`` holds :func:`claude_key_fingerprint` — else it asks
      whether to use the ``ANTHROPIC_API_KEY`` it found.
    * ``projects[<abs dir>].hasTrustDialogAccepted: true`` for each working directory — else
      the "Do you trust the files in this folder?" dialog stops it. The key is the absolute
      path as Claude sees its cwd (resolve symlinks: ``/tmp`` may be one).

    Claude Code rewrites this file while running (startup counters, per-project stats), so it
    must live in a directory the session owns.
    """
    cfg: dict[str, Any] = dict(existing or {})
    cfg["hasCompletedOnboarding"] = True
    cfg.setdefault("numStartups", 1)
    responses = dict(cfg.get("customApiKeyResponses") or {})
    approved = list(responses.get("approved") or [])
    fp = claude_key_fingerprint(api_key)
    if fp not in approved:
        approved.append(fp)
    responses["approved"] = approved
    responses.setdefault("rejected", [])
    cfg["customApiKeyResponses"] = responses
    projects = dict(cfg.get("projects") or {})
    for d in trusted_dirs:
        key = str(Path(d).resolve())
        entry = dict(projects.get(key) or {})
        entry["hasTrustDialogAccepted"] = True
        entry.setdefault("allowedTools", [])
        projects[key] = entry
    cfg["projects"] = projects
    return cfg


def write_claude_home(
    home: str | os.PathLike[str],
    trusted_dirs: Iterable[str | os.PathLike[str]],
    *,
    api_key: str = FAKE_ANTHROPIC_KEY,
) -> Path:
    """Write :func:`claude_global_config` to ``<home>/.claude.json`` (merging an existing one)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / ".claude.json"
    existing = json.loads(path.read_text()) if path.exists() else None
    path.write_text(
        json.dumps(claude_global_config(trusted_dirs, api_key=api_key, existing=existing), indent=2)
    )
    return path


def claude_hooks(
    command: str, events: Sequence[str] = CLAUDE_HOOK_EVENTS, *, timeout: int = 10
) -> dict[str, list[dict[str, Any]]]:
    """The ``"hooks"`` value of a Claude settings file: run ``command`` on every event.

    The command runs through a shell with the JSON payload on stdin (one document, no
    trailing newline). Every payload carries ``session_id``, ``transcript_path``, ``cwd`` and
    ``hook_event_name``. ``timeout`` is in seconds.
    """
    handler = {"type": "command", "command": command, "timeout": timeout}
    out: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        group: dict[str, Any] = {"hooks": [dict(handler)]}
        if ev in _CLAUDE_TOOL_EVENTS:
            group = {"matcher": "", **group}
        out[ev] = [group]
    return out


def claude_settings(
    *,
    hook_command: str | None = None,
    hook_events: Sequence[str] = CLAUDE_HOOK_EVENTS,
    permission_mode: str = "bypassPermissions",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A settings file for ``claude --settings FILE``.

    * ``permissions.defaultMode`` — the starting permission mode. 2.1.330's choices:
      ``auto`` (its default; a server-side classifier judges each tool call), ``manual``
      (asks; the payloads call it ``default``), ``acceptEdits``, ``plan``, ``dontAsk``,
      ``bypassPermissions``.
    * ``skipDangerousModePermissionPrompt: true`` — else ``bypassPermissions`` opens a
      "WARNING: Claude Code running in Bypass Permissions mode" dialog (default answer
      "No, exit") before anything else, SessionStart included.
    * ``hooks`` — :func:`claude_hooks` when ``hook_command`` is given.
    """
    s: dict[str, Any] = {
        "permissions": {"defaultMode": permission_mode},
        "skipDangerousModePermissionPrompt": True,
    }
    if hook_command:
        s["hooks"] = claude_hooks(hook_command, hook_events)
    if extra:
        s.update(extra)
    return s


def claude_env(
    home: str | os.PathLike[str],
    base_url: str,
    *,
    api_key: str = FAKE_ANTHROPIC_KEY,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for Claude Code talking to a fake Messages API at ``base_url``.

    * ``HOME`` — where ``.claude.json`` and ``.claude/`` (transcripts under
      ``.claude/projects/<cwd with / → ->/<session_id>.jsonl``) live.
    * ``ANTHROPIC_BASE_URL`` (no ``/v1``; it posts ``/v1/messages?beta=true``) and
      ``ANTHROPIC_API_KEY``.
    * ``DISABLE_TELEMETRY=1`` and ``CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`` — no
      telemetry, update checks or other hosts; with them 2.1.330 made no side request at all.
    * ``IS_SANDBOX=1`` — as root, ``bypassPermissions`` (``--dangerously-skip-permissions``)
      otherwise exits at once: "cannot be used with root/sudo privileges".
    """
    env = clean_env(base)
    env.update(
        HOME=str(home),
        ANTHROPIC_BASE_URL=base_url.rstrip("/"),
        ANTHROPIC_API_KEY=api_key,
        DISABLE_TELEMETRY="1",
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        IS_SANDBOX="1",
    )
    return env


def claude_argv(
    settings_path: str | os.PathLike[str],
    *,
    permission_mode: str | None = "bypassPermissions",
    resume: str | None = None,
    session_id: str | None = None,
    binary: str | os.PathLike[str] | None = None,
) -> list[str]:
    """``claude`` argv. ``--permission-mode`` overrides the settings file's ``defaultMode``.

    ``--resume <session_id>`` reopens a conversation (same id; SessionStart ``source:
    "resume"``; the whole history is sent with the next prompt). ``--session-id <uuid>`` fixes
    the id of a new conversation.
    """
    argv = [str(binary or claude_bin() or "claude"), "--settings", str(settings_path)]
    if permission_mode:
        argv += ["--permission-mode", permission_mode]
    if resume:
        argv += ["--resume", resume]
    if session_id:
        argv += ["--session-id", session_id]
    return argv


def prepare_claude(
    root: str | os.PathLike[str],
    cwd: str | os.PathLike[str],
    base_url: str,
    *,
    hook_command: str | None = None,
    permission_mode: str = "bypassPermissions",
    api_key: str = FAKE_ANTHROPIC_KEY,
    resume: str | None = None,
) -> Launch:
    """Write everything Claude Code needs under ``root`` and return how to launch it.

    ``root/home`` becomes ``HOME`` (with ``.claude.json``); ``root/claude-settings.json`` is
    passed with ``--settings``. ``cwd`` is trusted.
    """
    root = Path(root)
    cwd = Path(cwd).resolve()
    home = root / "home"
    cfg = write_claude_home(home, [cwd], api_key=api_key)
    settings = root / "claude-settings.json"
    settings.write_text(
        json.dumps(
            claude_settings(hook_command=hook_command, permission_mode=permission_mode), indent=2
        )
    )
    return Launch(
        argv=claude_argv(settings, permission_mode=permission_mode, resume=resume),
        env=claude_env(home, base_url, api_key=api_key),
        cwd=cwd,
        files={"home": home, "claude_json": cfg, "settings": settings},
    )


# -- Claude Code screen ----------------------------------------------------------------------

_CLAUDE_RULE = re.compile(r"^─{20,}$")


def claude_composer(screen: str) -> str | None:
    """The composer line's text if the screen shows Claude Code's input box, else ``None``.

    The box is a ``❯ `` line between two full-width ``─`` rules, above the mode footer. The
    text is ``""`` when empty. While a message is queued it reads "Press up to edit queued
    messages" (a placeholder).
    """
    lines = screen.rstrip("\n").split("\n")
    for i in range(len(lines) - 1, 0, -1):
        if (
            lines[i].startswith("❯")
            and _CLAUDE_RULE.match(lines[i - 1].strip())
            and i + 1 < len(lines)
            and _CLAUDE_RULE.match(lines[i + 1].strip())
        ):
            return lines[i][1:].strip()
    return None


def claude_busy(screen: str) -> bool:
    """True while a turn runs: the footer under the box then ends with "esc to interrupt"."""
    tail = [ln for ln in screen.rstrip("\n").split("\n") if ln.strip()][-2:]
    return any("esc to interrupt" in ln for ln in tail)


def claude_ready(screen: str) -> bool:
    """A ready, empty composer with no turn running and no dialog in front of it."""
    return claude_composer(screen) == "" and not claude_busy(screen)


# ============================================================================================
# Codex
# ============================================================================================

#: Codex hook events (Claude's JSON shape). SessionStart fires lazily, with the first prompt.
CODEX_HOOK_EVENTS: tuple[str, ...] = (
    "SessionStart",
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Stop",
    "Interrupt",
    "SessionEnd",
    "PreCompact",
    "PostCompact",
)
_CODEX_TOOL_EVENTS = {"PreToolUse", "PostToolUse", "PermissionRequest"}
#: Events Codex gives a short default (and hashed) timeout; others default to 600 s.
_CODEX_SHORT_EVENTS = {"SessionEnd", "Interrupt"}


def _toml_str(s: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML escapes)."""
    return json.dumps(s, ensure_ascii=False)


def _toml_array(items: Sequence[str]) -> str:
    return "[" + ", ".join(_toml_str(i) for i in items) + "]"


def _snake(event: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", event).lower()


def codex_hooks(
    command: str, events: Sequence[str] = CODEX_HOOK_EVENTS, *, timeout: int = 10
) -> dict[str, Any]:
    """The content of ``$CODEX_HOME/hooks.json``: run ``command`` on every event.

    Same shape as Claude's (event → ``[{matcher?, hooks: [{type, command, timeout}]}]``).
    The root object may hold only ``description`` and ``hooks``. ``SessionEnd`` and
    ``Interrupt`` are capped at a short timeout by Codex, so they get 1 s here.
    """
    hooks: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        t = 1 if ev in _CODEX_SHORT_EVENTS else timeout
        group: dict[str, Any] = {"hooks": [{"type": "command", "command": command, "timeout": t}]}
        if ev in _CODEX_TOOL_EVENTS:
            group = {"matcher": "", **group}
        hooks[ev] = [group]
    return {"hooks": hooks}


def codex_hook_trust_hash(event: str, group: Mapping[str, Any], handler_index: int = 0) -> str:
    """The ``trusted_hash`` Codex 0.169.0 records when a person trusts one hook.

    It is ``"sha256:" + sha256(compact sorted-key JSON of {event_name: <snake_case event>,
    matcher?: <group matcher, when present>, hooks: [{async: false, command, timeout,
    type: "command"}]})``, with ``timeout`` the handler's (default 600 s; 1 s for
    SessionEnd/Interrupt). Measured by trusting hooks in the TUI and recomputing every hash.
    """
    handler = dict(group["hooks"][handler_index])
    default_timeout = 1 if event in _CODEX_SHORT_EVENTS else 600
    identity: dict[str, Any] = {
        "event_name": _snake(event),
        "hooks": [
            {
                "async": bool(handler.get("async", False)),
                "command": handler["command"],
                "timeout": int(handler.get("timeout") or default_timeout),
                "type": handler.get("type", "command"),
            }
        ],
    }
    if "matcher" in group:
        identity["matcher"] = group["matcher"]
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def codex_hook_trust_toml(
    hooks_json_path: str | os.PathLike[str], hooks_doc: Mapping[str, Any]
) -> str:
    """``[hooks.state."<path>:<event_snake>:<group>:<handler>"] trusted_hash = …`` tables.

    Codex runs a non-managed hook only if its current hash is recorded as trusted; otherwise
    the TUI opens a "Hooks need review" dialog at start (1. Review hooks / 2. Trust all and
    continue / 3. Continue without trusting), and ``codex exec`` skips them silently. The key
    uses the absolute path of the hooks file as Codex loads it.
    """
    out = ["[hooks.state]"]
    path = str(Path(hooks_json_path).resolve())
    for ev, groups in (hooks_doc.get("hooks") or {}).items():
        for gi, group in enumerate(groups):
            for hi, _ in enumerate(group["hooks"]):
                key = f"{path}:{_snake(ev)}:{gi}:{hi}"
                out.append(f"[hooks.state.{_toml_str(key)}]")
                out.append(f"trusted_hash = {_toml_str(codex_hook_trust_hash(ev, group, hi))}")
    return "\n".join(out) + "\n"


def codex_config_toml(
    base_url: str,
    trusted_dirs: Iterable[str | os.PathLike[str]],
    *,
    notify: Sequence[str] | None = None,
    model: str = "gpt-5-codex",
    approval_policy: str = "never",
    sandbox_mode: str = "danger-full-access",
    provider_id: str = "scripted",
    env_key: str = "SCRIPTED_OPENAI_API_KEY",
    hook_trust: str = "",
) -> str:
    """``$CODEX_HOME/config.toml`` for Codex talking to a fake Responses API at ``base_url``.

    * A custom ``[model_providers.<id>]`` with ``base_url = "<url>/v1"`` and
      ``wire_api = "responses"``, selected by ``model_provider``; ``OPENAI_BASE_URL`` alone
      does not redirect it. ``env_key`` names the variable holding the bearer key.
    * ``approval_policy`` (``never`` | ``on-request`` | …) and ``sandbox_mode``
      (``read-only`` | ``workspace-write`` | ``danger-full-access``): ``never`` +
      ``danger-full-access`` is "YOLO mode" — no approval dialog, no sandbox.
    * ``[projects."<abs dir>"] trust_level = "trusted"`` — no "trust this folder" question.
    * ``notify = [prog, args…]`` — run once per finished turn with one extra argument, a JSON
      ``{"type": "agent-turn-complete", "thread-id", "turn-id", "cwd", "client",
      "input-messages", "last-assistant-message"}``. It also fires for Codex's own title
      thread (another ``thread-id``): filter on the session's thread id.
    * ``hook_trust`` — :func:`codex_hook_trust_toml` output, appended verbatim.
    * ``[tui]`` keys that pre-answer first-run notices.
    """
    lines = [
        f"model = {_toml_str(model)}",
        f"model_provider = {_toml_str(provider_id)}",
        f"approval_policy = {_toml_str(approval_policy)}",
        f"sandbox_mode = {_toml_str(sandbox_mode)}",
        "check_for_update_on_startup = false",
    ]
    if notify:
        lines.append(f"notify = {_toml_array(list(notify))}")
    lines += [
        "",
        f"[model_providers.{provider_id}]",
        f"name = {_toml_str('Scripted')}",
        f"base_url = {_toml_str(base_url.rstrip('/') + '/v1')}",
        'wire_api = "responses"',
        f"env_key = {_toml_str(env_key)}",
        "request_max_retries = 0",
        "stream_max_retries = 0",
        "",
    ]
    for d in trusted_dirs:
        lines += [f"[projects.{_toml_str(str(Path(d).resolve()))}]", 'trust_level = "trusted"', ""]
    lines += ["[tui]", "screen_reader_detection_done = true", ""]
    if hook_trust:
        lines.append(hook_trust)
    return "\n".join(lines)


def codex_env(
    codex_home: str | os.PathLike[str],
    *,
    home: str | os.PathLike[str] | None = None,
    api_key: str = FAKE_OPENAI_KEY,
    env_key: str = "SCRIPTED_OPENAI_API_KEY",
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment for Codex: ``CODEX_HOME`` (config, sessions, sqlite state) and the key.

    ``HOME`` is set too (when given) so nothing falls back to the user's ``~/.codex``.
    """
    env = clean_env(base)
    env["CODEX_HOME"] = str(codex_home)
    env[env_key] = api_key
    if home is not None:
        env["HOME"] = str(home)
    return env


def codex_argv(
    *,
    resume: str | None = None,
    bypass_hook_trust: bool = False,
    binary: str | os.PathLike[str] | None = None,
) -> list[str]:
    """``codex`` argv.

    * ``--no-daemon`` — without it the TUI copies its ~400 MB binary into
      ``$CODEX_HOME/packages/`` and starts a managed ``codex app-server`` daemon that outlives
      the TUI (it survives killing the tmux session). Embedded mode keeps one process tree.
    * ``--dangerously-bypass-hook-trust`` — runs untrusted hooks (implies embedded mode and
      shows a startup warning); not needed when :func:`codex_hook_trust_toml` was written.
    * ``resume <id>`` — the ``resume`` subcommand reopens a thread by id.
    """
    argv = [str(binary or codex_bin() or "codex")]
    if resume:
        argv += ["resume", resume]
    argv.append("--no-daemon")
    if bypass_hook_trust:
        argv.append("--dangerously-bypass-hook-trust")
    return argv


def prepare_codex(
    root: str | os.PathLike[str],
    cwd: str | os.PathLike[str],
    base_url: str,
    *,
    hook_command: str | None = None,
    notify: Sequence[str] | None = None,
    approval_policy: str = "never",
    sandbox_mode: str = "danger-full-access",
    trust_hooks: bool = True,
    resume: str | None = None,
) -> Launch:
    """Write a private ``CODEX_HOME`` under ``root`` and return how to launch Codex.

    ``root/codex-home`` gets ``config.toml`` and (with ``hook_command``) ``hooks.json`` whose
    hooks are pre-trusted (``trust_hooks``) so no review dialog appears. ``root/home`` is
    ``HOME``. ``cwd`` is trusted.
    """
    root = Path(root)
    cwd = Path(cwd).resolve()
    codex_home = root / "codex-home"
    home = root / "home"
    codex_home.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {"codex_home": codex_home, "home": home}
    trust = ""
    if hook_command:
        doc = codex_hooks(hook_command)
        hooks_path = codex_home / "hooks.json"
        hooks_path.write_text(json.dumps(doc, indent=2))
        files["hooks"] = hooks_path
        if trust_hooks:
            trust = codex_hook_trust_toml(hooks_path, doc)
    cfg = codex_home / "config.toml"
    cfg.write_text(
        codex_config_toml(
            base_url,
            [cwd],
            notify=notify,
            approval_policy=approval_policy,
            sandbox_mode=sandbox_mode,
            hook_trust=trust,
        )
    )
    files["config"] = cfg
    return Launch(
        argv=codex_argv(resume=resume, bypass_hook_trust=bool(hook_command) and not trust_hooks),
        env=codex_env(codex_home, home=home),
        cwd=cwd,
        files=files,
    )


# -- Codex screen ----------------------------------------------------------------------------


def codex_composer(screen: str) -> str | None:
    """The composer text if Codex shows its input line (``› …`` above the status footer).

    An empty composer shows a grey placeholder (e.g. "Ask Codex to do anything"), which
    capture-pane cannot tell from typed text without ``-e``; see :func:`codex_ready`.
    """
    lines = [ln for ln in screen.rstrip("\n").split("\n")]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("› "):
            return lines[i][2:].rstrip()
        if lines[i].startswith("›") and lines[i].strip() == "›":
            return ""
    return None


def codex_busy(screen: str) -> bool:
    """True while a turn runs: a "• Working (…s • esc to interrupt)" status line is shown."""
    return "esc to interrupt" in screen


def codex_ready(screen: str) -> bool:
    """A composer is shown, start-up is over, no turn runs and no dialog is in front.

    During the first ~0.4 s the composer is already drawn but the header's second line reads
    ``loading`` instead of the cwd (typed text is kept, an early Enter is not). Dialogs show
    numbered choices with a ``› 1. …`` cursor.
    """
    if codex_composer(screen) is None or codex_busy(screen):
        return False
    if re.search(r"^\s+loading\s*$", screen, re.M):
        return False
    return not re.search(r"^\s*› \d+\. ", screen, re.M)
