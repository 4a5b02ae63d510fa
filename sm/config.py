"""Settings: one typed, frozen value built once and passed to constructors.

Precedence, lowest first: built-in defaults → ``$SM_HOME/config.yaml`` (or the file
given with ``--config`` / ``SM_CONFIG``) → ``SM_*`` environment variables. A key
``section.name`` is overridden by ``SM_SECTION_NAME`` (``tmux.socket`` → ``SM_TMUX_SOCKET``).
Only this module and the stdlib client read the environment.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sm.errors import InvalidInput


@dataclass(frozen=True)
class TmuxSettings:
    socket: str = ""  # empty: derived from SM_HOME, so two homes never share a server
    binary: str = "tmux"
    history_limit: int = 50000
    width: int = 200
    height: int = 50


@dataclass(frozen=True)
class ClaudeSettings:
    binary: str = "claude"
    model: str = ""
    permission_mode: str = ""
    args: str = ""  # extra command-line arguments, split like a shell would


@dataclass(frozen=True)
class CodexSettings:
    binary: str = "codex"
    model: str = ""
    args: str = ""
    base_url: str = ""  # a Responses API base (…/v1) to use instead of the user's provider
    env_key: str = "OPENAI_API_KEY"  # the variable holding base_url's bearer key
    approval_policy: str = ""  # empty: the user's own (never | on-request | on-failure)
    sandbox_mode: str = ""  # empty: the user's own (read-only, workspace-write, …)


@dataclass(frozen=True)
class ScriptedSettings:
    script: str = ""  # empty: the built-in script
    speed: float = 1.0


@dataclass(frozen=True)
class ShellSettings:
    quiescence: float = 2.0  # seconds without output before a shell session counts as idle


@dataclass(frozen=True)
class LimitsSettings:
    max_prompt_bytes: int = 262144
    max_request_bytes: int = 0  # 0: 1 MiB plus max_prompt_bytes; bigger bodies get a 413
    max_db_bytes: int = 0  # 0: no cap; past it writes fail with storage_full, as on a full disk

    @property
    def request_bytes(self) -> int:
        """The request body cap in force."""
        return self.max_request_bytes or (1 << 20) + self.max_prompt_bytes


@dataclass(frozen=True)
class AgentsSettings:
    # variables (or NAME* prefixes) of the daemon's environment agents get besides the
    # built-in allowlist and their provider's own (docs/security.md)
    env: tuple[str, ...] = ()


@dataclass(frozen=True)
class HooksSettings:
    timeout: float = 5.0  # seconds a hook waits for the daemon before spooling


@dataclass(frozen=True)
class LocksSettings:
    enforce: bool = True  # refuse writes (and destructive git) on paths another session holds
    auto_release_idle: float = 300.0  # seconds idle before a session's auto-taken locks end
    # directories outside any git repository where sm lock may take paths (a lock must
    # be inside a repository or one of these; never / itself)
    roots: tuple[str, ...] = ()


@dataclass(frozen=True)
class WorktreeSettings:
    root: str = ""  # empty: $SM_HOME/worktrees; each worktree is <root>/<repo>/<session>
    branch_prefix: str = "sm/"
    setup: str = ""  # a shell command run in each new worktree (.sm/worktree.yaml wins)
    setup_timeout: float = 600.0


@dataclass(frozen=True)
class TelegramSettings:
    token: str = ""  # empty: no bot; the daemon runs the same without one
    chat_id: int = 0  # a forum supergroup (a topic per session) or a private chat
    allowed_user_ids: tuple[str, ...] = ()  # empty, with no allowed chat: nobody is served
    allowed_chat_ids: tuple[str, ...] = ()  # everyone in these chats is served
    base_url: str = "https://api.telegram.org/bot"  # a self-hosted Bot API server, or a fake
    permission_timeout: float = 300.0  # seconds before an unanswered prompt is denied
    poll_timeout: float = 30.0  # long-poll seconds per getUpdates
    cwd: str = ""  # working directory of /spawn (empty: the home directory)
    daily_summary: str = ""  # HH:MM, local time: the day's spend to the main chat (empty: off)


@dataclass(frozen=True)
class RemindSettings:
    soft: float = 180.0  # seconds without a status change before a dispatched child is nudged
    hard: float = 600.0  # seconds without a status change before it is told urgently
    digest: float = 300.0  # seconds between the orchestrator's digests of its children
    # each: 0 turns it off


@dataclass(frozen=True)
class StreamSettings:
    buffer: int = 1000  # events a stream reader may lag behind before it resyncs from the store
    keepalive: float = 15.0  # seconds of silence before a keep-alive frame


@dataclass(frozen=True)
class WebSettings:
    enabled: bool = False  # serve the dashboard from the daemon's start (else: once `sm web` asks)
    host: str = "127.0.0.1"  # a non-loopback address needs tls_cert, tls_key and allow_remote
    port: int = 8765  # 0: any free port
    hosts: tuple[str, ...] = ()  # Host names accepted besides loopback ones (DNS rebinding)
    allow_remote: bool = False  # the explicit yes for a non-loopback host
    tls_cert: str = ""  # PEM certificate file (required off loopback)
    tls_key: str = ""  # PEM private key file (required off loopback)
    login_ttl: float = 300.0  # seconds a one-time login URL stays valid
    cookie_ttl: float = 604800.0  # seconds a browser stays logged in
    assets: str = ""  # empty: the npm packages setup.sh installed into sm/web/vendor


@dataclass(frozen=True)
class JobsSettings:
    provider: str = "claude"  # the agent of a job that names none (nor its template)
    model: str = ""  # empty: the provider's own default
    project: str = "default"  # the project of a job that names none
    max_concurrent: int = 4  # agents working on jobs at once, over all projects (0: no cap)
    project_max_concurrent: int = 0  # per project, unless set for it (0: only the global cap)
    max_turns: int = 1  # turns a job may take before failed completion checks fail it
    max_seconds: float = 0.0  # wall time of one attempt (0: none)
    retry: str = "none"  # none | same | analyze
    max_attempts: int = 3  # attempts per run under retry same or analyze
    backoff: float = 30.0  # seconds before the first retry; doubles each time
    check_timeout: float = 300.0  # seconds a command: completion check may run
    analyze_seconds: float = 300.0  # seconds a diagnosis turn may take
    memory: bool = True  # give each job's prompt a ## Memory from the knowledge base


@dataclass(frozen=True)
class NotesSettings:
    max_value_bytes: int = 65536  # largest note value


@dataclass(frozen=True)
class KbSettings:
    max_entry_bytes: int = 8192  # largest entry content
    memory_entries: int = 5  # at most this many entries in a job's ## Memory
    memory_bytes: int = 2000  # and at most this many bytes in the whole section


@dataclass(frozen=True)
class UsageSettings:
    # model → {input, output, cache_write_5m, cache_write_1h, cache_read} in USD per million
    # tokens, over the shipped table (docs/usage.md); a new model needs all five
    prices: dict[str, Any] = field(default_factory=dict)
    context_windows: dict[str, Any] = field(default_factory=dict)  # model → tokens
    context_threshold: float = 0.8  # share of the window that raises a context event; 0: off
    telemetry: bool = False  # receive Claude Code's OpenTelemetry events (side requests)
    telemetry_port: int = 0  # the receiver's loopback port; 0: any free port


@dataclass(frozen=True)
class McpSettings:
    # give every agent sm spawns sm's MCP server (Claude Code --mcp-config, Codex
    # mcp_servers): its tools are sm's agent-facing operations (docs/mcp.md)
    agents: bool = True


@dataclass(frozen=True)
class BudgetsSettings:
    # each: "$1.50" or micro-dollars (1500000); empty: no default budget
    session: str = ""  # every session without a budget of its own
    day: str = ""  # all sessions together, per UTC day, unless `sm budget set --day`
    action: str = "interrupt"  # at 100 %: interrupt (the turn, and hold deliveries) | notify
    warn_at: float = 0.8  # share of a budget that tells the session's parent; 0: no warning


@dataclass(frozen=True)
class HealthSettings:
    # seconds a running session may go with no hook and no output before a stall warning
    stalled_after: float = 600.0


@dataclass(frozen=True)
class SpawnSettings:
    # from a provider's rate-limit reset until after_reset seconds later, its launches
    # are paced: one every interval seconds, at most max_starting starting at once
    interval: float = 3.0
    max_starting: int = 3  # 0: no cap
    after_reset: float = 300.0
    start_timeout: float = 60.0  # seconds a launched session counts as starting at most


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: default_home())
    log_level: str = "info"
    tmux: TmuxSettings = field(default_factory=TmuxSettings)
    claude: ClaudeSettings = field(default_factory=ClaudeSettings)
    codex: CodexSettings = field(default_factory=CodexSettings)
    scripted: ScriptedSettings = field(default_factory=ScriptedSettings)
    shell: ShellSettings = field(default_factory=ShellSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    agents: AgentsSettings = field(default_factory=AgentsSettings)
    hooks: HooksSettings = field(default_factory=HooksSettings)
    remind: RemindSettings = field(default_factory=RemindSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    locks: LocksSettings = field(default_factory=LocksSettings)
    worktree: WorktreeSettings = field(default_factory=WorktreeSettings)
    stream: StreamSettings = field(default_factory=StreamSettings)
    web: WebSettings = field(default_factory=WebSettings)
    usage: UsageSettings = field(default_factory=UsageSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    budgets: BudgetsSettings = field(default_factory=BudgetsSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    spawn: SpawnSettings = field(default_factory=SpawnSettings)
    jobs: JobsSettings = field(default_factory=JobsSettings)
    notes: NotesSettings = field(default_factory=NotesSettings)
    kb: KbSettings = field(default_factory=KbSettings)

    @property
    def socket_path(self) -> Path:
        return self.home / "sm.sock"

    @property
    def db_path(self) -> Path:
        return self.home / "sm.db"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def spool_path(self) -> Path:
        return self.home / "spool" / "hooks.jsonl"

    @property
    def sessions_dir(self) -> Path:
        return self.home / "sessions"

    @property
    def worktrees_dir(self) -> Path:
        if self.worktree.root:
            return Path(self.worktree.root).expanduser()
        return self.home / "worktrees"

    @property
    def repos_dir(self) -> Path:
        return self.home / "repos"

    @property
    def tmux_socket(self) -> str:
        return self.tmux.socket or tmux_socket_for(self.home)


def default_home() -> Path:
    return Path(os.environ.get("SM_HOME") or Path.home() / ".sm").expanduser()


def tmux_socket_for(home: Path) -> str:
    digest = hashlib.sha1(str(home.resolve()).encode()).hexdigest()[:10]
    return f"sm-{digest}"


def defaults() -> dict[str, Any]:
    """Every settable key (``section.name``) with its default, in declaration order."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.name == "home":
            continue
        value = getattr(Settings(home=Path(".")), f.name)
        if dataclasses.is_dataclass(value):
            for sub in dataclasses.fields(value):
                out[f"{f.name}.{sub.name}"] = getattr(value, sub.name)
        else:
            out[f.name] = value
    return out


# SM_* variables sm itself reads or sets that are not settings
VARIABLES = frozenset({
    "SM_HOME", "SM_CONFIG", "SM_SESSION_ID", "SM_SESSION_TOKEN",  # the client, every agent
    "SM_WORKTREE",  # set for a worktree's setup command
    "SM_AGENTS_CLI_DIR",  # scripts/install-agent-clis.sh
})


def env_variable(key: str) -> str:
    """``tmux.socket`` → ``SM_TMUX_SOCKET``."""
    return "SM_" + key.upper().replace(".", "_")


def env_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line for each ``SM_*`` variable that is neither a setting nor one of sm's own
    (a typo such as ``SM_REMIND_SOFTT``), naming the closest setting. Such variables are
    ignored; the warning is the only sign of them."""
    known = {env_variable(k) for k in defaults()} | VARIABLES
    out = []
    for name in sorted(environ):
        if name.startswith("SM_") and name not in known:
            import difflib  # only for a variable sm does not know

            close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
            hint = f" (did you mean {close[0]}?)" if close else ""
            out.append(f"{name} is not an sm setting{hint}; ignored")
    return out


def load(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the settings. Raises InvalidInput for an unreadable file, an unknown key
    or a value of the wrong type, naming the key and what was expected."""
    env = os.environ if environ is None else environ
    home = Path(env.get("SM_HOME") or Path.home() / ".sm").expanduser()
    path = config_file or (Path(env["SM_CONFIG"]) if env.get("SM_CONFIG") else home / "config.yaml")
    flat: dict[str, Any] = {}
    if path.exists():
        flat.update(_read_yaml(path))
    elif config_file is not None or env.get("SM_CONFIG"):
        raise InvalidInput(f"config file {path} does not exist")
    known = defaults()
    for key in known:
        env_name = env_variable(key)
        if env_name in env:
            flat[key] = env[env_name]
    for key in flat:
        if key not in known:
            raise InvalidInput(f"{path}: unknown config key {key!r} (see config.yaml.example)")
    return _build(home, {k: _coerce(k, v, known[k]) for k, v in flat.items()})


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read config file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a mapping at the top level")
    flat: dict[str, Any] = {}
    for section, value in data.items():
        if isinstance(value, dict):
            for name, sub in value.items():
                flat[f"{section}.{name}"] = sub
        else:
            flat[str(section)] = value
    return flat


def _coerce(key: str, value: Any, default: Any) -> Any:
    """``value`` as the type of ``default``; strings (from the environment) are parsed.
    Raises InvalidInput naming the key, the value and the type expected."""
    kind = type(default)
    if value is None:
        return default
    if kind is bool:
        text = str(value).lower()
        if isinstance(value, bool) or text in _BOOLS:
            return value if isinstance(value, bool) else _BOOLS[text]
    elif kind in (int, float) and not isinstance(value, bool):
        try:
            number = kind(value) if isinstance(value, str) else value
        except ValueError:
            number = None
        if isinstance(number, int) or (kind is float and isinstance(number, float)):
            return kind(number)
    elif kind is dict:
        if isinstance(value, str):  # from the environment: JSON
            import contextlib
            import json

            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
    elif kind is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list | tuple) and all(isinstance(v, str | int) for v in items):
            return tuple(str(v).strip() for v in items if str(v).strip())
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    names: dict[type, str] = {tuple: "list of strings", dict: "mapping"}
    expected = names.get(kind, kind.__name__)
    raise InvalidInput(f"config key {key}: {value!r} is not a valid {expected}")


_BOOLS = {"1": True, "true": True, "yes": True, "on": True,
          "0": False, "false": False, "no": False, "off": False, "": False}


def _build(home: Path, flat: dict[str, Any]) -> Settings:
    sections: dict[str, dict[str, Any]] = {}
    top: dict[str, Any] = {}
    for key, value in flat.items():
        if "." in key:
            section, name = key.split(".", 1)
            sections.setdefault(section, {})[name] = value
        else:
            top[key] = value
    base = Settings(home=home)
    parts = {
        name: dataclasses.replace(getattr(base, name), **values)
        for name, values in sections.items()
    }
    return dataclasses.replace(base, **top, **parts)
