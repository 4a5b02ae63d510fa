"""Settings: defaults → config.yaml → SM_* environment, typed and validated."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sm import config
from sm.errors import InvalidInput


def _load(home: Path, yaml_text: str | None = None, **env: str) -> config.Settings:
    if yaml_text is not None:
        (home / "config.yaml").write_text(yaml_text)
    return config.load(environ={"SM_HOME": str(home), **env})


def test_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path)
    assert s.home == tmp_path
    assert s.log_level == "info"
    assert s.tmux.binary == "tmux" and s.tmux.socket == ""
    assert (s.tmux.width, s.tmux.height, s.tmux.history_limit) == (200, 50, 50000)
    assert s.scripted.speed == 1.0 and s.scripted.script == ""
    assert s.limits.max_prompt_bytes == 262144
    assert s.hooks.timeout == 5.0
    assert s.socket_path == tmp_path / "sm.sock"
    assert s.db_path == tmp_path / "sm.db"
    assert s.spool_path == tmp_path / "spool" / "hooks.jsonl"
    assert s.sessions_dir == tmp_path / "sessions"
    assert s.log_dir == tmp_path / "logs"


def test_home_defaults_to_dot_sm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config.load(environ={}).home == tmp_path / ".sm"


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = _load(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.log_level = "debug"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tmux.binary = "x"  # type: ignore[misc]


def test_yaml_overrides_defaults(tmp_path: Path) -> None:
    s = _load(tmp_path, "log_level: debug\ntmux:\n  width: 120\n  binary: /opt/tmux\n"
                       "scripted:\n  speed: 0.5\nlimits:\n  max_prompt_bytes: 1000\n")
    assert s.log_level == "debug"
    assert (s.tmux.width, s.tmux.binary, s.tmux.height) == (120, "/opt/tmux", 50)
    assert s.scripted.speed == 0.5
    assert s.limits.max_prompt_bytes == 1000


def test_environment_overrides_yaml(tmp_path: Path) -> None:
    s = _load(tmp_path, "tmux:\n  width: 120\n  height: 40\nscripted:\n  speed: 0.5\n",
              SM_TMUX_WIDTH="90", SM_SCRIPTED_SPEED="0.05", SM_LOG_LEVEL="warning")
    assert s.tmux.width == 90  # env beats yaml
    assert s.tmux.height == 40  # yaml beats default
    assert s.scripted.speed == 0.05
    assert s.log_level == "warning"
    assert isinstance(s.tmux.width, int) and isinstance(s.scripted.speed, float)


def test_unrelated_environment_is_ignored(tmp_path: Path) -> None:
    s = _load(tmp_path, SM_SESSION_TOKEN="x", SM_SESSION_ID="y", SM_NOT_A_KEY="z")
    assert s == _load(tmp_path)


def test_explicit_config_file(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text("tmux:\n  height: 33\n")
    (tmp_path / "config.yaml").write_text("tmux:\n  height: 11\n")
    env = {"SM_HOME": str(tmp_path)}
    assert config.load(other, environ=env).tmux.height == 33
    assert config.load(environ={**env, "SM_CONFIG": str(other)}).tmux.height == 33
    with pytest.raises(InvalidInput, match="does not exist"):
        config.load(tmp_path / "missing.yaml", environ=env)


def test_missing_sm_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        config.load(environ={"SM_HOME": str(tmp_path), "SM_CONFIG": str(tmp_path / "typo")})


@pytest.mark.parametrize(("text", "key"), [
    ("bogus: 1\n", "bogus"),
    ("tmux:\n  sockett: x\n", "tmux.sockett"),
    ("nosuchsection:\n  width: 1\n", "nosuchsection.width"),
    ("home: /elsewhere\n", "home"),
])
def test_unknown_key_is_an_error_naming_it(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(InvalidInput) as info:
        _load(tmp_path, text)
    assert f"unknown config key {key!r}" in info.value.message
    assert str(tmp_path / "config.yaml") in info.value.message


@pytest.mark.parametrize(("text", "env", "key"), [
    ("tmux:\n  width: wide\n", {}, "tmux.width"),
    ("scripted:\n  speed: fast\n", {}, "scripted.speed"),
    ("limits:\n  max_prompt_bytes: true\n", {}, "limits.max_prompt_bytes"),
    ("", {"SM_TMUX_HEIGHT": "tall"}, "tmux.height"),
    ("", {"SM_HOOKS_TIMEOUT": "soon"}, "hooks.timeout"),
])
def test_bad_type_is_an_error_naming_the_key(
    tmp_path: Path, text: str, env: dict[str, str], key: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        _load(tmp_path, text, **env)
    assert info.value.message.startswith(f"config key {key}: ")
    assert "is not a valid" in info.value.message


@pytest.mark.parametrize(("text", "key"), [
    ("tmux:\n  binary: [tmux, -v]\n", "tmux.binary"),
    ("claude:\n  model: {name: x}\n", "claude.model"),
    ("tmux:\n  width: 1.5\n", "tmux.width"),
])
def test_wrong_shape_is_an_error(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(InvalidInput, match=f"config key {key}"):
        _load(tmp_path, text)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "a: [unclosed\n"])
def test_malformed_file_is_an_error(tmp_path: Path, text: str) -> None:
    with pytest.raises(InvalidInput, match=str(tmp_path / "config.yaml")):
        _load(tmp_path, text)


def test_empty_file_and_null_values_keep_defaults(tmp_path: Path) -> None:
    assert _load(tmp_path, "") == _load(tmp_path)
    assert _load(tmp_path, "tmux:\n  width:\n").tmux.width == 200


def test_every_key_has_an_environment_name(tmp_path: Path) -> None:
    keys = config.defaults()
    assert "tmux.socket" in keys and "log_level" in keys and "home" not in keys
    for key, default in keys.items():
        if isinstance(default, bool) or not isinstance(default, (int, float, str)):
            continue
        name = "SM_" + key.upper().replace(".", "_")
        value = "7" if isinstance(default, (int, float)) else "x"
        s = _load(tmp_path, **{name: value})
        section, _, field = key.rpartition(".")
        got = getattr(getattr(s, section), field) if section else getattr(s, field)
        assert str(got) in (value, "7.0"), key


def test_tmux_socket_is_derived_from_home(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert config.tmux_socket_for(a) == config.tmux_socket_for(a)
    assert config.tmux_socket_for(a) != config.tmux_socket_for(b)
    assert config.tmux_socket_for(a).startswith("sm-")
    assert _load(tmp_path).tmux_socket == config.tmux_socket_for(tmp_path)
    assert _load(tmp_path, SM_TMUX_SOCKET="mine").tmux_socket == "mine"


def _first_key(kind: type) -> str:
    return next(k for k, v in config.defaults().items() if type(v) is kind)


def test_boolean_values(tmp_path: Path) -> None:
    key = _first_key(bool)
    section, _, field = key.partition(".")
    name = "SM_" + key.upper().replace(".", "_")
    for text, expected in (("yes", True), ("1", True), ("on", True), ("no", False),
                           ("0", False), ("off", False), ("FALSE", False)):
        s = _load(tmp_path, **{name: text})
        assert getattr(getattr(s, section), field) is expected, text
    assert getattr(getattr(_load(tmp_path, f"{section}:\n  {field}: false\n"), section),
                   field) is False
    with pytest.raises(InvalidInput, match=f"config key {key}: 'maybe' is not a valid bool"):
        _load(tmp_path, **{name: "maybe"})


def test_list_values(tmp_path: Path) -> None:
    key = _first_key(tuple)
    section, _, field = key.partition(".")
    name = "SM_" + key.upper().replace(".", "_")
    assert getattr(getattr(_load(tmp_path, **{name: "1, 2,,3"}), section), field) == (
        "1", "2", "3")
    from_yaml = _load(tmp_path, f"{section}:\n  {field}: [a, b]\n")
    assert getattr(getattr(from_yaml, section), field) == ("a", "b")


def test_list_items_have_the_declared_type(tmp_path: Path) -> None:
    key = _first_key(tuple)
    section, _, field = key.partition(".")
    from_yaml = _load(tmp_path, f"{section}:\n  {field}: [4, 5]\n")
    assert getattr(getattr(from_yaml, section), field) == ("4", "5")


def test_env_warnings_name_unknown_sm_variables_and_the_closest_setting() -> None:
    env = {"SM_REMIND_SOFTT": "5", "SM_REMIND_SOFT": "5", "SM_HOME": "/x", "SM_SESSION_ID": "a",
           "SM_WORKTREE": "w", "SM_ZZZ": "1", "PATH": "/bin", "XSM_FOO": "1"}
    assert config.env_warnings(env) == [
        "SM_REMIND_SOFTT is not an sm setting (did you mean SM_REMIND_SOFT?); ignored",
        "SM_ZZZ is not an sm setting; ignored",
    ]
