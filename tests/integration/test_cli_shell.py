"""sm in the user's shell and terminal: completion scripts that work in bash for typer
and fast-path commands alike, and ``sm attach`` from inside tmux."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from sm.cli.attach import plan


def _bash_complete(sm_env: dict[str, str], line: str) -> list[str]:
    """What bash offers for ``line`` (the cursor at its end) with sm's completion."""
    from sm.cli.completion import _SCRIPTS

    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    script = (_SCRIPTS["bash"]
              + f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              + f"COMP_CWORD={len(words) - 1}\n_sm_complete\n"
              + "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    out = subprocess.run(["bash", "--norc", "-c", script], env=sm_env, capture_output=True,
                         text=True, timeout=30, check=True)
    return [w for w in out.stdout.splitlines() if w]


@pytest.fixture
def bash_env(sm_env: dict[str, str]) -> dict[str, str]:
    """sm_env with the venv's sm first on PATH (the script calls plain ``sm``)."""
    import sys

    return {**sm_env, "PATH": f"{Path(sys.executable).parent}:{sm_env['PATH']}"}


def test_completion_scripts_for_each_shell(sm) -> None:
    for shell in ("bash", "zsh", "fish"):
        out = sm("completion", shell).stdout
        assert "sm __complete" in out
    bad = sm("completion", "tcsh", check=False)
    assert (bad.returncode, bad.stderr) == (
        2, "sm: no completion for shell 'tcsh'; expected one of: bash, zsh, fish\n")


def test_bash_completes_commands_options_and_sessions(bash_env, spawn) -> None:
    assert {"send", "spawn", "show", "status"} <= set(_bash_complete(bash_env, "sm s"))
    assert {"ls", "logs", "list"} <= set(_bash_complete(bash_env, "sm l"))
    # a fast-path command's options, and a typer command's
    assert _bash_complete(bash_env, "sm send --no-") == ["--no-notify-on-stop"]
    assert "--prompt-file" in _bash_complete(bash_env, "sm spawn --prompt")
    assert _bash_complete(bash_env, "sm worktree ") == ["gc", "list"]
    assert _bash_complete(bash_env, "sm completion ") == ["bash", "zsh", "fish"]
    # no daemon yet: no session names, and none is started for a completion
    assert _bash_complete(bash_env, "sm kill ") == []
    spawn("--name", "alpha")
    spawn("--name", "beta")
    assert _bash_complete(bash_env, "sm kill ") == ["alpha", "beta"]
    assert _bash_complete(bash_env, "sm send a") == ["alpha"]
    assert _bash_complete(bash_env, "sm messages --to ") == []  # a value, not a session


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_loads(sm, sm_env) -> None:
    script = sm("completion", "zsh").stdout
    out = subprocess.run(["zsh", "-f", "-c", "autoload -U compinit; compinit -u; " + script],
                         env=sm_env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr


def test_attach_from_inside_sms_own_tmux_switches_the_client(
    sm, spawn, tmux, tmux_socket, wait_until, sm_env
) -> None:
    first = json.loads(sm("spawn", "shell", "--name", "first", "--json", "--", "bash",
                          "--norc").stdout)
    second = spawn("--name", "second")
    # a client on sm's server, attached to the first session (control mode needs no tty)
    client = subprocess.Popen(["tmux", "-L", tmux_socket, "-C", "attach-session", "-t",
                               f"=sm-{first['id']}"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def sessions_of_clients() -> list[str]:
            # the daemon's own control client sits on the hidden sm-control session
            listed = tmux("list-clients", "-F", "#{client_session}").stdout.split()
            return [s for s in listed if s != "sm-control"]

        wait_until(lambda: sessions_of_clients() == [f"sm-{first['id']}"])
        tmux("send-keys", "-t", f"=sm-{first['id']}:", "-l", "--", "sm attach second")
        tmux("send-keys", "-t", f"=sm-{first['id']}:", "Enter")
        wait_until(lambda: sessions_of_clients() == [f"sm-{second['id']}"],
                   message="the client to switch to the second session")
    finally:
        assert client.stdin is not None
        client.stdin.close()
        client.terminate()
        client.wait(timeout=10)


def test_attach_without_a_terminal_is_a_clear_error(sm, spawn) -> None:
    spawn("--name", "w")
    out = sm("attach", "w", check=False)
    assert (out.returncode, out.stderr) == (
        2, "sm: sm attach needs a terminal (stdin and stdout are not one)\n")
    sm("kill", "w")
    out = sm("attach", "w", check=False)
    assert (out.returncode, out.stderr) == (
        1, "sm: w is stopped: its tmux session is gone (sm restore w relaunches it)\n")


SOCK = "/tmp/tmux-0/sm-abc"


def test_attach_plan_outside_tmux() -> None:
    p = plan("w", "sm-1", "sm-abc", SOCK, {"PATH": "/bin"})
    assert p.argv[:6] == ["tmux", "-L", "sm-abc", "attach-session", "-t", "=sm-1"]
    assert "detach with C-b d" in p.argv[-1] and p.hint == "" and p.needs_tty


def test_attach_plan_inside_sms_own_server() -> None:
    p = plan("w", "sm-1", "sm-abc", SOCK, {"TMUX": f"{SOCK},123,0", "TMUX_PANE": "%1"})
    assert p.argv == ["tmux", "-L", "sm-abc", "switch-client", "-t", "=sm-1"]
    assert not p.needs_tty and p.env["TMUX"] == f"{SOCK},123,0"


def test_attach_plan_nested_in_another_tmux() -> None:
    env = {"TMUX": "/tmp/tmux-0/default,99,0", "TMUX_PANE": "%3"}
    same_prefix = plan("w", "sm-1", "sm-abc", SOCK, env, outer_prefix="C-b")
    assert "TMUX" not in same_prefix.env and "TMUX_PANE" not in same_prefix.env
    assert "detach from it with C-b C-b d" in same_prefix.hint
    assert "detach with C-b C-b d" in same_prefix.argv[-1]
    other_prefix = plan("w", "sm-1", "sm-abc", SOCK, env, outer_prefix="C-a")
    assert "detach from it with C-b d" in other_prefix.hint
