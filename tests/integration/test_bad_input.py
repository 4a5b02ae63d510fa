"""Bad input: a clear one-line message on stderr, the documented exit code (1: refused or
not found, 2: invalid input or unavailable), no traceback, and nothing changed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Fails = Callable[..., str]


@pytest.fixture
def fails(sm) -> Fails:
    """``fails(*args, code=, env=None)``: run sm, expect exit ``code`` and exactly one
    line on stderr, ``sm: …``; return that line."""

    def run(*args: str, code: int, env: dict[str, str | None] | None = None) -> str:
        out = sm(*args, env=env, check=False)
        assert out.returncode == code, f"sm {args}: exit {out.returncode}\n{out.stderr}"
        assert "Traceback" not in out.stderr, out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sm: "), out.stderr
        return lines[0]

    return run


@pytest.fixture
def unchanged(sm_json, spawn) -> Callable[[], None]:
    """Spawns one idle session; call the returned check to assert that the sessions
    and the event log are as they were."""
    spawn("--name", "bystander")
    before = (sm_json("list"), sm_json("events", "-n", "500"))

    def check() -> None:
        assert (sm_json("list"), sm_json("events", "-n", "500")) == before

    return check


def test_unknown_session(fails: Fails, unchanged) -> None:
    for args in (("status", "nope"), ("show", "nope"), ("kill", "nope"),
                 ("restore", "nope"), ("name", "nope", "fine"), ("output", "nope"),
                 ("tail", "nope"), ("events", "nope")):
        assert fails(*args, code=1) == "sm: no session 'nope'", args
    unchanged()


def test_bad_prompts(fails: Fails, unchanged, sm_home: Path) -> None:
    assert fails("spawn", "scripted", "", code=2) == "sm: the prompt is empty"
    assert fails("spawn", "scripted", "  ", code=2) == "sm: the prompt is empty"

    empty = sm_home / "empty.txt"
    empty.write_text(" \n")
    line = fails("spawn", "scripted", "--prompt-file", str(empty), code=2)
    assert line == f"sm: prompt from {empty} is empty"

    big = sm_home / "big.txt"
    big.write_bytes(b"a" * (1 << 20))
    line = fails("spawn", "scripted", "--prompt-file", str(big), code=2)
    assert "1048576 bytes" in line and "limit is 262144" in line

    latin = sm_home / "latin1.txt"
    latin.write_bytes("café au lait".encode("latin-1"))
    line = fails("spawn", "scripted", "--prompt-file", str(latin), code=2)
    assert "not valid UTF-8" in line and "0xe9" in line and "offset 3" in line

    line = fails("spawn", "scripted", "--prompt-file", str(sm_home / "missing.txt"), code=2)
    assert "cannot read prompt file" in line and "missing.txt" in line

    line = fails("spawn", "scripted", "hi", "--prompt-file", str(latin), code=2)
    assert "give the prompt once" in line
    unchanged()


def test_bad_spawn_requests(fails: Fails, unchanged, sm_home: Path) -> None:
    line = fails("spawn", "gpt", "hello", code=1)
    assert line == ("sm: unknown provider 'gpt'; expected one of: "
                    "claude, codex, scripted, shell")
    line = fails("spawn", "shell", code=2)
    assert "the shell provider needs a command" in line
    line = fails("spawn", "scripted", "--cwd", str(sm_home / "nowhere"), code=2)
    assert line == f"sm: working directory {sm_home / 'nowhere'} does not exist"
    line = fails("spawn", "scripted", "--script", str(sm_home / "nope.yaml"), code=2)
    assert "nope.yaml does not exist" in line
    unchanged()


def test_output_with_no_lines(fails: Fails, unchanged) -> None:
    line = fails("output", "bystander", "-n", "0", code=2)
    assert "lines" in line
    unchanged()


def test_missing_tmux_binary(fails: Fails, sm_json) -> None:
    env = {"SM_TMUX_BINARY": "/nonexistent/tmux"}
    line = fails("spawn", "scripted", "--name", "notmux", code=2, env=env)
    assert line == ("sm: tmux not found (tried '/nonexistent/tmux'); "
                    "install tmux or set tmux.binary")
    # the attempt is on record as an error; nothing is left live
    assert [(s["name"], s["state"]) for s in sm_json("list", env=env)] == [("notmux", "error")]


@pytest.mark.parametrize("command", [["list"], ["me"], ["spawn", "scripted"], ["daemon", "run"]])
def test_sm_home_too_long_is_refused_before_anything_is_created(
    fails: Fails, sm_home: Path, command: list[str]
) -> None:
    long_home = sm_home / ("x" * 100)
    line = fails(*command, code=2, env={"SM_HOME": str(long_home)})
    assert line == (f"sm: SM_HOME {long_home} is too long: its socket path "
                    f"{long_home}/sm.sock has {len(str(long_home)) + 8} characters; "
                    "the limit is 107")
    assert not long_home.exists()




@pytest.mark.parametrize("command", [["list"], ["me"], ["spawn", "scripted"]])
def test_sm_home_below_a_regular_file(fails: Fails, sm_home: Path, command) -> None:
    (sm_home / "file").write_text("")
    line = fails(*command, code=2, env={"SM_HOME": str(sm_home / "file" / "home")})
    assert "SM_HOME" in line and "not writable" in line


def test_hook_exits_0_when_it_can_neither_report_nor_spool(run_hook, sm_home: Path) -> None:
    (sm_home / "file").write_text("")
    out = run_hook("Stop", {"last_assistant_message": "x"},
                   env={"SM_HOME": str(sm_home / "file" / "home"),
                        "SM_SESSION_TOKEN": "whatever"})
    assert out.returncode == 0
    assert "Traceback" not in out.stderr


def test_unknown_config_key(fails: Fails, sm, sm_home: Path, sm_env) -> None:
    (sm_home / "config.yaml").write_text("tmux:\n  sockett: x\n")
    line = fails("list", code=2)
    assert "failed to start" in line and "unknown config key 'tmux.sockett'" in line
    out = sm("daemon", "run", check=False, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip() == (f"sm: {sm_home / 'config.yaml'}: unknown config key "
                                  f"'tmux.sockett' (see config.yaml.example)")
    assert not (sm_home / "sm.sock").exists()


def test_bad_config_value(fails: Fails, sm_home: Path) -> None:
    (sm_home / "config.yaml").write_text("limits:\n  max_prompt_bytes: lots\n")
    line = fails("list", code=2)
    assert "config key limits.max_prompt_bytes: 'lots' is not a valid int" in line


def test_config_limit_is_applied(fails: Fails, sm_home: Path, sm_json) -> None:
    (sm_home / "config.yaml").write_text("limits:\n  max_prompt_bytes: 10\n")
    line = fails("spawn", "scripted", "more than ten bytes", code=2)
    assert "prompt is 19 bytes; the limit is 10" in line
    assert sm_json("list") == []


@pytest.fixture
def bare_500_daemon(sm_home: Path) -> Iterator[None]:
    """A stand-in daemon on $SM_HOME/sm.sock that fails every request the way uvicorn
    does for an unhandled exception: HTTP 500 with a text/plain body."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(sm_home / "sm.sock"))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        body = b"Internal Server Error"
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\n"
                             b"content-type: text/plain; charset=utf-8\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=5)
    listener.close()


@pytest.mark.parametrize("command", [["me"], ["list"], ["spawn", "scripted"]])
def test_a_bare_500_from_the_daemon_is_a_one_line_error(
    fails: Fails, bare_500_daemon: None, command: list[str]
) -> None:
    assert fails(*command, code=1) == "sm: daemon answered HTTP 500 with no error body"


def test_hook_exits_0_when_the_daemon_answers_a_bare_500(run_hook, bare_500_daemon) -> None:
    out = run_hook("Stop", {"last_assistant_message": "x"}, env={"SM_SESSION_TOKEN": "t"})
    assert (out.returncode, "Traceback" in out.stderr) == (0, False)


def test_model_on_a_provider_without_models_is_refused(fails: Fails, unchanged) -> None:
    line = fails("spawn", "scripted", "--model", "opus", code=2)
    assert line == ("sm: the scripted provider has no models; --model is for "
                    "claude and codex")
    line = fails("spawn", "shell", "--model", "opus", "--", "bash", code=2)
    assert line == "sm: the shell provider has no models; --model is for claude and codex"
    unchanged()


def test_a_bad_script_is_refused_at_spawn(fails: Fails, unchanged, sm_home: Path) -> None:
    bad = sm_home / "bad.yaml"
    bad.write_text("rules: [this is not a rule]\n")
    line = fails("spawn", "scripted", "--script", str(bad), code=2)
    assert line.startswith(f"sm: {bad}: ") and "rule" in line
    (sm_home / "broken.yaml").write_text("rules: [\n")
    line = fails("spawn", "scripted", "--script", str(sm_home / "broken.yaml"), code=2)
    assert "broken.yaml" in line and "line" in line
    unchanged()


def test_an_agent_that_dies_at_once_fails_the_spawn(fails: Fails, sm_json) -> None:
    line = fails("spawn", "shell", "--name", "doomed", "--", "sh", "-c",
                 "echo cannot find the config; exit 3", code=1)
    assert line == ("sm: doomed failed at once (error, exit status 3): cannot find the config"
                    " — see: sm output doomed")
    assert [(s["name"], s["state"]) for s in sm_json("list")] == [("doomed", "error")]


def test_a_mistyped_sm_variable_is_named_on_stderr(sm, sm_home: Path) -> None:
    out = sm("list", env={"SM_REMIND_SOFTT": "5"})
    assert out.stderr.splitlines() == [
        "sm: warning: SM_REMIND_SOFTT is not an sm setting (did you mean SM_REMIND_SOFT?); "
        "ignored"]
    # sm's own variables, settings among them, are not warned about
    out = sm("daemon", "restart", env={"SM_REMIND_SOFT": "5", "SM_SESSION_ID": "",
                                       "SM_WORKTREE": "x"})
    assert out.stderr == ""


def test_http_validation_errors_name_the_field_and_the_value(sm, sm_home: Path) -> None:
    from sm.client import Client
    from sm.errors import InvalidInput

    sm("daemon", "start")
    client = Client(home=str(sm_home), token="", session_id="")
    cases = [
        ({"targets": ["x"], "body": "hi", "mode": "loud"},
         "mode: input should be 'sequential', 'important' or 'urgent'; got 'loud'"),
        ({"body": "hi"}, "targets: a required field is missing"),
        (None, "request body: a required field is missing"),
    ]
    for body, expected in cases:
        with pytest.raises(InvalidInput) as err:
            client.post("/messages", body)
        assert err.value.message == expected
    with pytest.raises(InvalidInput) as err:
        client.get("/messages", limit="lots")
    assert err.value.message.startswith("limit: input should be a valid integer")
    assert err.value.message.endswith("; got 'lots'")
