"""The claude and codex providers: what they write to start the real CLIs with no dialog,
and how they read the real CLIs' screens (recorded with ``capture-pane -e`` from Claude
Code 2.1.330 and Codex 0.169.0 under ``screens/``). No tmux, no agent binary."""

from __future__ import annotations

import json
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from sm.agents.base import LaunchSpec, read_prompt_screen
from sm.agents.claude import Claude, read_claude_screen
from sm.agents.codex import Codex, dump_toml, hooks_doc, read_codex_screen, trusted_hash
from sm.agents.screen import parse, plain
from sm.config import ClaudeSettings, CodexSettings

SCREENS = Path(__file__).parent / "screens"
KEY = "sk-ant-api03-unit-test-key-0000000000000000000-ABCDEFGHIJ"
HOOK = "/venv/bin/python -I -S /sm/hooks/sm_hook.py"


@pytest.mark.parametrize(("name", "composer", "busy"), [
    ("claude-2.1.330-ready", "", False),
    ("claude-2.1.330-typed", "hi there\nsecond line", False),
    ("claude-2.1.330-pasted", "hi there[Pasted text #1]", False),
    ("claude-2.1.330-busy", "", True),
    ("claude-2.1.330-busy-queued", "", True),  # the "Press up to edit …" placeholder
    ("claude-2.1.330-streaming", "", True),
    ("claude-2.1.330-interrupted", "", False),
    ("claude-2.1.330-permission", None, False),  # the dialog replaces the composer
    ("claude-2.1.330-permission-refused", "", False),
])
def test_claude_screens(name: str, composer: str | None, busy: bool) -> None:
    screen = read_claude_screen((SCREENS / f"{name}.txt").read_text())
    assert (screen.composer, screen.busy) == (composer, busy)
    # the interrupt mark is the last transcript line only right after an interrupt
    assert screen.interrupted == (name in ("claude-2.1.330-interrupted",
                                           "claude-2.1.330-permission-refused"))


@pytest.mark.parametrize(("name", "composer", "busy"), [
    ("codex-0.169.0-loading", None, False),  # the header's cwd line still says "loading"
    ("codex-0.169.0-ready", "", False),  # "Ask Codex to do anything" is a faint placeholder
    ("codex-0.169.0-typed", "hi there\nsecond line", False),
    ("codex-0.169.0-after-turn", "", False),
    ("codex-0.169.0-busy", "", True),
    ("codex-0.169.0-streaming", "", False),  # no busy line while text streams: hooks tell
    ("codex-0.169.0-interrupted", "", False),
    ("codex-0.169.0-approval", None, False),  # "› 1. Yes, proceed (y)"
    ("codex-0.169.0-approval-refused", "", False),
    ("codex-0.169.0-hooks-review", None, False),  # "› 1. Review hooks": untrusted hooks
])
def test_codex_screens(name: str, composer: str | None, busy: bool) -> None:
    screen = read_codex_screen((SCREENS / f"{name}.txt").read_text())
    assert (screen.composer, screen.busy) == (composer, busy)


def test_screens_read_the_same_without_escapes_except_placeholders() -> None:
    typed = (SCREENS / "claude-2.1.330-typed.txt").read_text()
    assert read_claude_screen(plain(typed)) == read_claude_screen(typed)
    # without attributes a placeholder reads as text: never typed over, never lost
    ready = plain((SCREENS / "codex-0.169.0-ready.txt").read_text())
    assert read_codex_screen(ready).composer == "Ask Codex to do anything"


def test_styles_track_faint_reverse_and_resets() -> None:
    line = parse("\x1b[1m›\x1b[0m \x1b[2mAsk\x1b[22m x \x1b[7my\x1b[27m\x1b[38;5;2mz")[0]
    assert line.text == "› Ask x yz"
    assert line.styles == "  fff   c "  # faint, plain again after 22, the cursor cell
    assert not line.is_placeholder(1)
    assert parse("❯ \x1b[7mP\x1b[0;2mress up")[0].is_placeholder(1)
    assert not parse("❯ \x1b[7mx")[0].is_placeholder(1)  # the cursor on typed text
    assert parse("\x1b[38;2;1;2;3mrgb")[0].styles == "   "  # 38;2;r;g;b is no faint


def test_prompt_screen_sees_dialog_choices_and_placeholders() -> None:
    dialog = "Do you want to proceed?\n❯ 1. Yes\n  2. Yes, and don't ask again\n  3. No"
    assert read_prompt_screen(dialog).composer is None
    assert read_prompt_screen("● Working… (esc to interrupt)\n❯ hello").busy
    assert read_prompt_screen("❯ \x1b[2mTry something\x1b[0m").composer == ""
    assert read_prompt_screen("❯ typed text").composer == "typed text"


# -- launching ---------------------------------------------------------------------------

def _binary(tmp_path: Path, name: str) -> str:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _spec(tmp_path: Path, env: dict[str, str], **kw: Any) -> LaunchSpec:
    cwd = tmp_path / "work"
    cwd.mkdir(exist_ok=True)
    session_dir = tmp_path / "sm" / "sessions" / "abc"
    session_dir.mkdir(parents=True, exist_ok=True)
    return LaunchSpec(session_id="abc", cwd=cwd.resolve(), session_dir=session_dir,
                      hook_command=HOOK, conversation_id="11111111-2222-3333-4444-555555555555",
                      env=env, **kw)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_claude_gets_a_config_dir_of_its_own(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".claude" / "agents").mkdir(parents=True)
    (home / ".claude" / ".credentials.json").write_text('{"token": "t"}')
    (home / ".claude" / "settings.json").write_text('{"theme": "dark"}')
    (home / ".claude.json").write_text(json.dumps({
        "oauthAccount": {"emailAddress": "me@example.com"}, "theme": "dark",
        "projects": {"/elsewhere": {"hasTrustDialogAccepted": True}},
    }))
    before = _snapshot(home)
    env = {"HOME": str(home), "ANTHROPIC_API_KEY": KEY}
    provider = Claude(ClaudeSettings(binary=_binary(tmp_path, "claude"),
                                     permission_mode="bypassPermissions"))
    spec = _spec(tmp_path, env)
    launch = provider.launch(spec)

    config_dir = Path(launch.env["CLAUDE_CONFIG_DIR"])
    assert config_dir == spec.session_dir.absolute() / "claude"
    cfg = json.loads((config_dir / ".claude.json").read_text())
    assert cfg["hasCompletedOnboarding"] is True
    assert cfg["customApiKeyResponses"] == {"approved": [KEY[-20:]], "rejected": []}
    assert cfg["projects"] == {str(spec.cwd): {"hasTrustDialogAccepted": True}}
    assert cfg["oauthAccount"] == {"emailAddress": "me@example.com"}  # the user's login
    for name in (".credentials.json", "settings.json", "agents"):
        assert (config_dir / name).resolve() == (home / ".claude" / name).resolve()
    assert not (config_dir / "CLAUDE.md").exists()  # only what the user has
    settings = json.loads(Path(launch.argv[2]).read_text())
    assert settings["skipDangerousModePermissionPrompt"] is True
    assert "PermissionRequest" in settings["hooks"] and "StopFailure" in settings["hooks"]
    assert settings["hooks"]["Stop"][0]["hooks"][0]["command"] == f"{HOOK} Stop"
    assert launch.argv[3:] == ["--session-id", spec.conversation_id,
                               "--permission-mode", "bypassPermissions"]
    assert _snapshot(home) == before  # nothing of the user's was written

    # a restore keeps what Claude Code wrote and resumes the same conversation
    cfg["numStartups"] = 7
    (config_dir / ".claude.json").write_text(json.dumps(cfg))
    again = provider.launch(_spec(tmp_path, env, resume=True))
    assert json.loads((config_dir / ".claude.json").read_text())["numStartups"] == 7
    assert again.argv[3:5] == ["--resume", spec.conversation_id]
    assert _snapshot(home) == before


def test_claude_exports_its_telemetry_to_sm_when_asked(tmp_path: Path) -> None:
    from sm.agents.base import Telemetry

    binary = _binary(tmp_path, "claude")
    plain = Claude(ClaudeSettings(binary=binary)).launch(_spec(tmp_path, {}))
    assert not any(k.startswith(("OTEL_", "CLAUDE_CODE_ENABLE")) for k in plain.env)
    provider = Claude(ClaudeSettings(binary=binary),
                      Telemetry("http://127.0.0.1:4999/v1/logs", "s3cret"))
    env = provider.launch(_spec(tmp_path, {"OTEL_RESOURCE_ATTRIBUTES": "team=a",
                                           "OTEL_METRICS_EXPORTER": "otlp"})).env
    assert env["CLAUDE_CODE_ENABLE_TELEMETRY"] == "1"
    assert env["OTEL_LOGS_EXPORTER"] == "otlp"
    assert env["OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"] == "http/json"
    assert env["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"] == "http://127.0.0.1:4999/v1/logs"
    assert env["OTEL_EXPORTER_OTLP_LOGS_HEADERS"] == "authorization=Bearer s3cret"
    assert env["OTEL_RESOURCE_ATTRIBUTES"] == "team=a,sm.session=abc"  # theirs kept
    assert "OTEL_METRICS_EXPORTER" not in env  # the user's metrics exporter is theirs
    bare = provider.launch(_spec(tmp_path, {})).env
    assert bare["OTEL_METRICS_EXPORTER"] == "none"


def test_claude_without_a_user_config(tmp_path: Path) -> None:
    provider = Claude(ClaudeSettings(binary=_binary(tmp_path, "claude")))
    launch = provider.launch(_spec(tmp_path, {}))
    cfg = json.loads((Path(launch.env["CLAUDE_CONFIG_DIR"]) / ".claude.json").read_text())
    assert cfg["hasCompletedOnboarding"] is True and "customApiKeyResponses" not in cfg
    settings = json.loads(Path(launch.argv[2]).read_text())
    assert "skipDangerousModePermissionPrompt" not in settings
    assert "--permission-mode" not in launch.argv


def test_codex_gets_a_codex_home_of_its_own(tmp_path: Path) -> None:
    user = tmp_path / "home" / ".codex"
    user.mkdir(parents=True)
    (user / "auth.json").write_text('{"OPENAI_API_KEY": null}')
    (user / "config.toml").write_text(
        'model = "gpt-5.5"\nnotify = ["say"]\n[model_providers.mine]\nbase_url = "http://x"\n'
        '[notice.model_migrations]\n"gpt-5.5" = "gpt-6.1-sol"\n'
        '[hooks.state."/old/hooks.json:stop:0:0"]\ntrusted_hash = "sha256:0"\n'
    )
    before = _snapshot(user)
    provider = Codex(CodexSettings(binary=_binary(tmp_path, "codex"), model="gpt-5-codex",
                                   base_url="http://127.0.0.1:9/v1/", env_key="MY_KEY"))
    spec = _spec(tmp_path, {"HOME": str(tmp_path / "home")},
                 options={"permission_mode": "bypassPermissions"})
    launch = provider.launch(spec)

    home = Path(launch.env["CODEX_HOME"])
    assert home == spec.session_dir.absolute() / "codex"
    assert launch.argv[1:] == ["--no-daemon"]
    cfg = tomllib.loads((home / "config.toml").read_text())
    assert cfg["notify"] == [*HOOK.split(), "agent-turn-complete"]
    assert cfg["model"] == "gpt-5-codex" and cfg["model_provider"] == "sm"
    assert cfg["model_providers"]["sm"] == {"name": "sm", "base_url": "http://127.0.0.1:9/v1",
                                            "wire_api": "responses", "env_key": "MY_KEY"}
    assert cfg["model_providers"]["mine"] == {"base_url": "http://x"}
    assert cfg["notice"] == {"model_migrations": {"gpt-5.5": "gpt-6.1-sol"}}
    assert (cfg["approval_policy"], cfg["sandbox_mode"]) == ("never", "danger-full-access")
    assert cfg["projects"] == {str(spec.cwd): {"trust_level": "trusted"}}
    assert cfg["check_for_update_on_startup"] is False
    hooks = json.loads((home / "hooks.json").read_text())
    states = cfg["hooks"]["state"]
    assert len(states) == len(hooks["hooks"])  # every hook trusted, none of the user's
    for event, groups in hooks["hooks"].items():
        key = f"{(home / 'hooks.json').resolve()}:{_snake(event)}:0:0"
        assert states[key]["trusted_hash"] == trusted_hash(event, groups[0])
    assert (home / "auth.json").resolve() == (user / "auth.json").resolve()
    assert _snapshot(user) == before

    # a restore resumes only a thread Codex recorded here (sm's id is a placeholder)
    resumed = provider.launch(_spec(tmp_path, {}, resume=True))
    assert "resume" not in resumed.argv
    rollout = home / "sessions" / "2026" / "01" / "02"
    rollout.mkdir(parents=True)
    (rollout / f"rollout-2026-01-02T03-04-05-{spec.conversation_id}.jsonl").write_text("")
    resumed = provider.launch(_spec(tmp_path, {}, resume=True))
    assert resumed.argv[1:] == ["resume", spec.conversation_id, "--no-daemon"]


MCP = ("/venv/bin/python", "-I", "-m", "sm", "mcp")


def test_agents_get_sms_mcp_server_unless_it_is_off(tmp_path: Path) -> None:
    env = {"SM_HOME": "/tmp/smhome"}
    want = {"command": MCP[0], "args": list(MCP[1:]), "env": {
        "SM_SESSION_ID": "abc", "SM_HOME": "/tmp/smhome",
        "SM_SESSION_TOKEN_FILE": str((tmp_path / "sm" / "sessions" / "abc").absolute()
                                     / "token")}}
    claude = Claude(ClaudeSettings(binary=_binary(tmp_path, "claude")))
    argv = claude.launch(_spec(tmp_path, env, mcp_command=MCP)).argv
    # right after --settings: --mcp-config takes every value up to the next flag
    assert argv[3] == "--mcp-config" and argv[5].startswith("--")
    assert json.loads(Path(argv[4]).read_text()) == {
        "mcpServers": {"sm": {"type": "stdio", **want}}}
    assert "--mcp-config" not in claude.launch(_spec(tmp_path, env)).argv

    codex = Codex(CodexSettings(binary=_binary(tmp_path, "codex")))
    home = Path(codex.launch(_spec(tmp_path, env, mcp_command=MCP)).env["CODEX_HOME"])
    cfg = tomllib.loads((home / "config.toml").read_text())
    assert cfg["mcp_servers"] == {"sm": want}
    # its first turn waits for MCP servers still starting (its default: 1 s), not the
    # user's own choice when there is one
    assert cfg["mcp_optional_startup_grace_ms"] == 10000
    (home / "config.toml").unlink()
    codex.launch(_spec(tmp_path, env))
    cfg = tomllib.loads((home / "config.toml").read_text())
    assert "mcp_servers" not in cfg and "mcp_optional_startup_grace_ms" not in cfg
    (home / "config.toml").unlink()  # a first launch: the user's config.toml is the base
    user = tmp_path / "uhome" / ".codex"
    user.mkdir(parents=True)
    (user / "config.toml").write_text("mcp_optional_startup_grace_ms = 2500\n")
    home = Path(codex.launch(_spec(tmp_path, {**env, "HOME": str(tmp_path / "uhome")},
                                   mcp_command=MCP)).env["CODEX_HOME"])
    assert tomllib.loads((home / "config.toml").read_text())[
        "mcp_optional_startup_grace_ms"] == 2500


# what Codex 0.169.0 wrote into config.toml when "Trust all and continue" was chosen for
# the hooks.json of hooks_doc(CODEX_HOOK) (the review dialog: screens/…-hooks-review.txt)
CODEX_HOOK = "/work/main/.venv/bin/python -I -S /work/main/hooks/sm_hook.py"
CODEX_TRUSTED = {
    "SessionStart": "abd067b5455256347ac43d042e1798193b163f04432a03457b1407c9fb5a7ef0",
    "UserPromptSubmit": "10a498535a3c7ec9545796e07dccaba6c58d6cac8f745333ebc63e0aa98b3494",
    "PreToolUse": "bc819f6facc461cfa856ebf0949429df47ad34d9cce34d4b5cb41bf39e28edfd",
    "PostToolUse": "45f1c8c3e00374177269c59f60c71fef76a97e0c6ea0af46d90fa51c3dfc90d0",
    "PermissionRequest": "03f330ba854edc2deaf4a8331e55683529ca153e500f1fab6963b91fa34f0b4b",
    "Stop": "a82db7e7023641bb154aea595a7f63b296ad3eada4979b45cc2b8aa1a0aab926",
    "Interrupt": "b22ce34e2e2a728f8489da70565dcb417112e66c7ad9c31ecd7f1a29754e9a6a",
    "SessionEnd": "b3367711a2f14fe65df6ed6fefab9a6207f3d49f92f16f0a97e82aa6c99173dd",
    "PreCompact": "310a866b553158681ec612e648a0556ace01fbf35976e9ab5fc39fbbc0afd3f5",
    "PostCompact": "2e65a504c63177ed1674fec659e86e49e656512bb50a1bc475a503920c4f0752",
}


def test_codex_trust_hashes_are_the_ones_codex_writes() -> None:
    doc = hooks_doc(CODEX_HOOK)
    assert {event: trusted_hash(event, groups[0]).removeprefix("sha256:")
            for event, groups in doc["hooks"].items()} == CODEX_TRUSTED


def test_codex_trust_hashes_match_the_measured_algorithm() -> None:
    """The harness's hash reproduced every hash Codex 0.169.0 wrote when a person trusted
    hooks (tests/e2e/FACTS.md §3.3); the provider's must agree with it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
    import agents  # type: ignore[import-not-found]

    for event, groups in agents.codex_hooks(f"{HOOK} x")["hooks"].items():
        assert trusted_hash(event, groups[0]) == agents.codex_hook_trust_hash(event, groups[0])


def test_dump_toml_round_trips() -> None:
    data = {
        "model": "m", "n": 3, "f": 0.5, "ok": True, "list": ["a", 'q"uote'], "empty": {},
        "objs": [{"a": 1}], "t": {"x": 1, "sub": {"y": "z"}}, "odd key": {"k.v": "é\n"},
    }
    assert tomllib.loads(dump_toml(data)) == data


def _snake(event: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower()
                   for i, c in enumerate(event))


def test_the_submitted_text_is_what_was_typed_without_claudes_paste_wrapper() -> None:
    from sm.agents.claude import Claude
    from sm.agents.scripted import Scripted
    from sm.config import ClaudeSettings, ScriptedSettings

    typed = "[sm 0123456789abcdef from operator] first line\nsecond"
    wrapped = f'\n\n<pasted_content id="b183">\n{typed}\n</pasted_content id="b183">\n'
    assert Claude(ClaudeSettings()).submitted_text(wrapped).startswith(typed)
    assert Claude(ClaudeSettings()).submitted_text("  " + typed) == typed
    # an agent that does not wrap pastes shows the wrapper as typed text
    assert not Scripted(ScriptedSettings()).submitted_text(wrapped).startswith(typed)
