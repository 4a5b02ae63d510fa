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


@dataclass(frozen=True)
class HooksSettings:
    timeout: float = 5.0  # seconds a hook waits for the daemon before spooling


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
    hooks: HooksSettings = field(default_factory=HooksSettings)

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
    def tmux_socket(self) -> str:
        return self.tmux.socket or tmux_socket_for(self.home)


def default_home() -> Path:
    return Path(os.environ.get("SM_HOME") or Path.home() / ".sm").expanduser()


def tmux_socket_for(home: Path) -> str:
    digest = hashlib.sha1(str(home.resolve()).encode()).hexdigest()[:10]
    return f"sm-{digest}"


def keys() -> dict[str, Any]:
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
    elif config_file is not None:
        raise InvalidInput(f"config file {path} does not exist")
    known = keys()
    for key in known:
        env_name = "SM_" + key.upper().replace(".", "_")
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
    kind = type(default)
    if value is None:
        return default
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off", ""):
                    return False
                raise ValueError(value)
            return bool(value)
        if kind in (int, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return kind(value)
        if kind is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"config key {key}: {value!r} is not a valid {kind.__name__}"
        ) from exc


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
