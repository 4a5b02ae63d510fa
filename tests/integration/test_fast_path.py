"""What agents call many times a turn (``sm me``, ``sm status``, ``sm list`` and the hook
entry point) imports only the standard library and sm itself."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from sm.agents.base import hook_command

NAMED = {"typer", "rich", "httpx"}  # the heavy ones the human surface uses


def _imported(stderr: str) -> set[str]:
    """Top-level module names from ``python -X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


def _at_startup(*flags: str) -> set[str]:
    """What the interpreter imports before any of sm runs (site, .pth hooks)."""
    out = subprocess.run([sys.executable, "-X", "importtime", *flags, "-c", "pass"],
                         capture_output=True, text=True, timeout=30)
    return _imported(out.stderr)


def _foreign(names: set[str], *flags: str) -> set[str]:
    """Imported modules that are neither the stdlib, sm, nor the interpreter's own."""
    return {n for n in names - _at_startup(*flags)
            if n not in sys.stdlib_module_names and n != "sm"}


AGENT_COMMANDS = [
    ["me"], ["me", "--json"], ["status"], ["status", "fast"], ["status", "fast", "--json"],
    ["list", "--json"], ["list"], ["messages"], ["reminders"], ["children", "fast"],
    ["send", "--help"],
]


def test_agent_commands_import_only_the_stdlib(spawn, sm_env, sm_home: Path, session_env):
    rec = spawn("--name", "fast")
    for env in (sm_env, {**sm_env, **session_env(rec["id"])}):  # operator, then the agent
        for args in AGENT_COMMANDS:
            out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sm", *args],
                                 env=env, cwd=sm_home, capture_output=True, text=True,
                                 timeout=30, stdin=subprocess.DEVNULL)
            assert out.returncode == 0, (args, out.stderr[-2000:])
            imported = _imported(out.stderr)
            assert "sm" in imported
            assert (args, imported & NAMED) == (args, set())
            assert (args, _foreign(imported)) == (args, set())


def test_the_commonest_calls_skip_argparse(spawn, sm_env, sm_home: Path, session_env):
    """``sm me``, ``sm status`` and ``sm send`` in their usual shapes are parsed by hand:
    argparse (with re and gettext) and urllib cost more to import than the request."""
    rec = spawn("--name", "quick")
    env = {**sm_env, **session_env(rec["id"])}
    for args in (["me"], ["me", "--json"], ["status"], ["status", "quick", "--json"],
                 ["status", "--set", "reading the logs"], ["send", "quick", "hi", "--json"]):
        out = subprocess.run([sys.executable, "-X", "importtime", "-m", "sm", *args],
                             env=env, cwd=sm_home, capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, (args, out.stderr[-2000:])
        lines = out.stderr.splitlines()
        names = {x.rsplit("|", 1)[1].strip() for x in lines if x.startswith("import time:")}
        assert (args, names & {"argparse", "urllib.parse", "gettext"}) == (args, set())
    assert sm_json_of(env, sm_home, "status", "quick")["status_text"] == "reading the logs"


def sm_json_of(env: dict[str, str], cwd: Path, *args: str) -> Any:
    out = subprocess.run([sys.executable, "-m", "sm", *args, "--json"], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_me_in_process_leaves_no_heavy_module(sm_env, sm_home: Path, sm) -> None:
    sm("daemon", "start")
    code = ("import sys, json, sm.cli.main as m; rc = m.main(['me']); "
            "heavy = sorted({k.split('.')[0] for k in sys.modules} & {'typer', 'rich', 'httpx'}); "
            "print(json.dumps([rc, heavy]))")
    out = subprocess.run([sys.executable, "-c", code], env=sm_env, cwd=sm_home, text=True,
                         capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "operator (no session token)"
    assert json.loads(lines[-1]) == [0, []]


def test_hook_imports_only_the_stdlib(
    spawn, sm_env, sm_json, sm_home: Path, session_env
) -> None:
    rec = spawn("--name", "hooky")
    argv = shlex.split(hook_command())
    assert argv[1:3] == ["-I", "-S"]  # no site-packages at all on the hook path
    out = subprocess.run([argv[0], "-X", "importtime", *argv[1:], "Stop"],
                         input=json.dumps({"last_assistant_message": "imports"}),
                         env={**sm_env, **session_env(rec["id"])}, cwd=sm_home,
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    imported = _imported(out.stderr)
    assert "sm" in imported
    assert _foreign(imported, "-I", "-S") == set()
    assert sm_json("status", "hooky")["last_message"] == "imports"
