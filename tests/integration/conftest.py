"""Integration fixtures: a real daemon on a short temp SM_HOME with its own tmux server,
driven through the real ``sm`` CLI in subprocesses, with scripted agents.

Every test gets its own SM_HOME. Its finalizer (run even when the test fails) stops the
daemon by the pid in ``$SM_HOME/daemon.pid``, kills that home's tmux server, waits for the
agents that ran in it, and removes the directory. Nothing is ever killed by name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sm.agents.base import hook_command
from sm.config import tmux_socket_for

SM_BIN = Path(sys.executable).with_name("sm")
SPEED = "0.05"  # SM_SCRIPTED_SPEED: a scripted `sleep: 1` lasts 50 ms

Runner = Callable[..., subprocess.CompletedProcess[str]]


# -- processes -------------------------------------------------------------------------

def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def daemon_pid(home: Path) -> int | None:
    try:
        return int((home / "daemon.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_daemon(pid: int) -> bool:
    """The pid file could be stale and its pid reused: only signal an sm daemon."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"daemon" in cmdline and b"run" in cmdline


def _terminate(pids: Iterable[int], timeout: float) -> None:
    """SIGTERM each pid, wait, then SIGKILL whatever is left. Only the given pids."""
    pids = [p for p in pids if pid_alive(p)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.02)
    for pid in pids:
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _tmux(socket: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, text=True,
                          timeout=10, stdin=subprocess.DEVNULL)


def _teardown(home: Path) -> None:
    pid = daemon_pid(home)
    if pid is not None and pid_alive(pid) and _is_our_daemon(pid):
        _terminate([pid], timeout=5.0)
    socket = tmux_socket_for(home)
    listed = _tmux(socket, "list-panes", "-a", "-F", "#{pane_pid}")
    panes = [int(p) for p in listed.stdout.split() if p.isdigit()]
    _tmux(socket, "kill-server")
    # the agents fire their SessionEnd hooks on the way out; let them finish first
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(pid_alive(p) for p in panes):
        time.sleep(0.02)
    _terminate(panes, timeout=1.0)
    # tmux 3.3 leaves the socket file of a killed server behind
    tmux_dir = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
    (tmux_dir / socket).unlink(missing_ok=True)
    shutil.rmtree(home, ignore_errors=True)
    _no_strays(home)


def _no_strays(home: Path) -> None:
    """Whatever of this home still runs once the daemon, the tmux server and the agents
    are gone was started behind the fixture's back: ended here, and a daemon or tmux
    process among it fails the test that left it (sm must not revive or leak them)."""
    import leftovers

    mine = leftovers.Made(homes=[home])
    deadline = time.monotonic() + 3.0
    while (stray := leftovers.processes(mine)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not stray:
        return
    described = [leftovers.describe(pid) for pid in stray]
    leftovers.clean(mine)
    if any(" tmux " in f" {d} " or "daemon run" in d for d in described):
        raise AssertionError("left behind by this test:\n  " + "\n  ".join(described))


# -- scripts ---------------------------------------------------------------------------

SONNET = "claude-sonnet-4-5"  # $3 in, $15 out, $0.30 cache read; a 200k window
# two turns that spend: 100k×$3 + 20k×$15 + 26k×$0.30 per million = $0.6078, context 126k
# of 200k; then + $0.087 ($0.6948 in all), context 150k
SPENDING_RULES = {"rules": [
    {"match": "first", "actions": [{"usage": {"model": SONNET, "input": 100_000,
                                              "output": 20_000, "cache_read": 26_000}},
                                   {"say": "one"}]},
    {"match": "second", "actions": [{"usage": {"model": SONNET, "input": 10_000,
                                               "output": 1_000, "cache_read": 140_000}},
                                    {"say": "two"}]},
]}


# -- fixtures --------------------------------------------------------------------------

@pytest.fixture
def sm_home(request: pytest.FixtureRequest, made: Any) -> Path:
    """A fresh, short SM_HOME (Unix socket paths must stay under ~107 chars), recorded
    so that the end of the run can check it left nothing behind."""
    home = Path(tempfile.mkdtemp(prefix="sm-", dir="/tmp"))
    made.homes.append(home)
    request.addfinalizer(lambda: _teardown(home))
    return home


@pytest.fixture
def sm_env(sm_home: Path) -> dict[str, str]:
    """The environment every sm subprocess gets: this test's SM_HOME, fast scripted
    agents, and nothing inherited that could point at another sm or tmux."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("SM_") and k not in ("TMUX", "TMUX_PANE")
    }
    env["SM_HOME"] = str(sm_home)
    env["SM_SCRIPTED_SPEED"] = SPEED
    return env


def _merge(base: dict[str, str], extra: dict[str, str | None] | None) -> dict[str, str]:
    env = dict(base)
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _describe(proc: subprocess.CompletedProcess[str]) -> str:
    return (f"{shlex.join(str(a) for a in proc.args)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")


@pytest.fixture
def sm(sm_home: Path, sm_env: dict[str, str]) -> Runner:
    """``sm(*args, input=None, env=None, check=True)``: run the real CLI. ``env`` adds
    (or, with None values, removes) variables. ``check`` asserts exit status 0."""

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str | None] | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(SM_BIN), *args], input=input, env=_merge(sm_env, env), cwd=sm_home,
            capture_output=True, text=True, timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(_describe(proc))
        return proc

    return run


@pytest.fixture
def sm_json(sm: Runner) -> Callable[..., Any]:
    """``sm_json(*args, env=None)``: run ``sm ARGS --json`` (must succeed), parse stdout.
    ``--json`` goes before a ``--`` so it never lands in a shell command line."""

    def run(*args: str, env: dict[str, str | None] | None = None) -> Any:
        cut = args.index("--") if "--" in args else len(args)
        return json.loads(sm(*args[:cut], "--json", *args[cut:], env=env).stdout)

    return run


@pytest.fixture
def tmux_socket(sm_home: Path) -> str:
    return tmux_socket_for(sm_home)


@pytest.fixture
def tmux(tmux_socket: str) -> Runner:
    """``tmux(*args, check=True)`` on this SM_HOME's tmux server."""

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = _tmux(tmux_socket, *args)
        if check and proc.returncode != 0:
            raise AssertionError(_describe(proc))
        return proc

    return run


@pytest.fixture
def script_file(sm_home: Path) -> Callable[..., Path]:
    """``script_file(doc, name="script.yaml")``: write a scripted-agent script (a dict,
    dumped as YAML, or YAML text) and return its path."""

    def write(doc: dict[str, Any] | str, name: str = "script.yaml") -> Path:
        path = sm_home / name
        path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
        return path

    return write


@pytest.fixture
def wait_state(sm: Runner, wait_until: Callable[..., Any]) -> Callable[..., dict[str, Any]]:
    """``wait_state(ref, *states, timeout=10, where=None)``: poll ``sm status REF --json``
    until the session is in one of ``states`` (and ``where(record)`` holds); return the
    record. On timeout the assertion shows the record and the session's events."""

    def wait(
        ref: str, *states: str, timeout: float = 10.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            nonlocal last
            last = json.loads(sm("status", ref, "--json").stdout)
            ok = last["state"] in states and (where is None or where(last))
            return last if ok else None

        def explain() -> str:
            events = sm("events", ref, "-n", "30", check=False).stdout
            return f"{ref} to be {'/'.join(states)}; record: {last}\nevents:\n{events}"

        result: dict[str, Any] = wait_until(reached, timeout=timeout, message=explain)
        return result

    return wait


@pytest.fixture
def spawn(
    sm_json: Callable[..., Any], wait_state: Callable[..., dict[str, Any]]
) -> Callable[..., dict[str, Any]]:
    """``spawn(*args, provider="scripted", script=None, env=None, idle=True)``: ``sm
    spawn`` and (by default) wait until the agent is idle; returns the session record."""

    def run(
        *args: str, provider: str = "scripted", script: Path | None = None,
        env: dict[str, str | None] | None = None, idle: bool = True,
    ) -> dict[str, Any]:
        extra = ["--script", str(script)] if script is not None else []
        rec: dict[str, Any] = sm_json("spawn", provider, *extra, *args, env=env)
        return wait_state(rec["id"], "idle") if idle else rec

    return run


@pytest.fixture
def type_prompt(tmux: Runner) -> Callable[[str, str], None]:
    """``type_prompt(session_id, text)``: type into the agent's pane the way a person
    does: the text literally, then Enter on its own."""

    def type_(session_id: str, text: str) -> None:
        target = f"=sm-{session_id}:"
        tmux("send-keys", "-t", target, "-l", "--", text)
        tmux("send-keys", "-t", target, "Enter")

    return type_


@pytest.fixture
def session_env(tmux: Runner) -> Callable[[str], dict[str, str | None]]:
    """``session_env(session_id)``: what lets a process outside the agent's pane speak
    as it: the session id sm gave the agent (read from its tmux session's environment)
    and the token in the file it points the agent to, as ``SM_SESSION_TOKEN``."""

    def read(session_id: str) -> dict[str, str | None]:
        env: dict[str, str | None] = {}
        for key in ("SM_SESSION_ID", "SM_SESSION_TOKEN_FILE"):
            line = tmux("show-environment", "-t", f"=sm-{session_id}", key).stdout.strip()
            env[key] = line.split("=", 1)[1]
        env["SM_SESSION_TOKEN"] = Path(str(env.pop("SM_SESSION_TOKEN_FILE"))).read_text()
        return env

    return read


def _summary(event: dict[str, Any]) -> tuple[str, str]:
    if event["kind"] == "hook":
        return ("hook", event["payload"]["event"])
    if event["kind"] == "state":
        return ("state", event["payload"]["to"])
    return (event["kind"], "")


@pytest.fixture
def events(sm_json: Callable[..., Any]) -> Callable[..., list[Any]]:
    """``events(ref, kinds=("hook", "state"), after=0, summary=False)``: the session's
    events with ``seq > after``, oldest first; with ``summary`` each is ``(kind, what)``:
    a hook's event name or a state change's new state."""

    def read(
        ref: str, kinds: tuple[str, ...] = ("hook", "state"), after: int = 0,
        summary: bool = False,
    ) -> list[Any]:
        items: list[dict[str, Any]] = sm_json("events", ref, "-n", "500")
        items = [e for e in items if e["kind"] in kinds and e["seq"] > after]
        return [_summary(e) for e in items] if summary else items

    return read


@pytest.fixture
def run_hook(sm_env: dict[str, str], sm_home: Path) -> Runner:
    """``run_hook(event, payload, env=None)``: run sm's hook entry point exactly as
    agents do (the daemon's hook command line), with ``payload`` as JSON on stdin."""

    def run(
        event: str, payload: dict[str, Any], env: dict[str, str | None] | None = None,
        timeout: float = 10.0,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*shlex.split(hook_command()), event], input=json.dumps(payload),
            env=_merge(sm_env, env), cwd=sm_home, capture_output=True, text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def pane_exit(tmux: Runner, wait_until: Callable[..., Any]) -> Callable[[str], int]:
    """``pane_exit(session_id)``: wait until the agent's process has exited and tmux has
    reaped it; return the exit status tmux recorded.

    tmux (3.3a, seen here in about a third of exits) can miss a pane's SIGCHLD: the pane
    shows dead with no status, its process stays a zombie and no pane-died hook fires
    until another child of the server exits. A no-op background job is such a child.
    sm's own handling of that case is tested without this help."""

    def wait(session_id: str) -> int:
        target = f"=sm-{session_id}:"

        def reaped() -> str | None:
            out = tmux("display-message", "-p", "-t", target,
                       "#{pane_dead} #{pane_dead_status}").stdout.split()
            if out[:1] != ["1"]:
                return None
            if len(out) == 2:
                return out[1]
            tmux("run-shell", "-b", "true")
            return None

        return int(wait_until(reaped, timeout=10, interval=0.1,
                              message=f"the pane of {session_id} to exit"))

    return wait


@pytest.fixture
def stop_daemon(
    sm: Runner, sm_home: Path, wait_until: Callable[..., Any]
) -> Callable[[], int]:
    """``stop_daemon()``: ``sm daemon stop``, then wait until the daemon's process is
    gone; returns its pid. (Whether stop itself cleans up is tested on its own.)"""

    def stop() -> int:
        pid = daemon_pid(sm_home)
        assert pid is not None and pid_alive(pid), "no daemon runs"
        sm("daemon", "stop", "--timeout", "0.5")
        wait_until(lambda: not pid_alive(pid), timeout=10, message=f"daemon {pid} to exit")
        return pid

    return stop


@pytest.fixture(name="daemon_pid")
def _daemon_pid(sm_home: Path) -> Callable[[], int | None]:
    """``daemon_pid()``: the pid in this SM_HOME's ``daemon.pid`` (None without one)."""
    return lambda: daemon_pid(sm_home)


@pytest.fixture(name="pid_alive")
def _pid_alive() -> Callable[[int], bool]:
    """``pid_alive(pid)``: the process runs (a zombie counts as gone)."""
    return pid_alive


@pytest.fixture
def start_daemon(sm: Callable[..., Any]) -> Callable[..., None]:
    """``start_daemon(**env)``: start the daemon with extra settings (``SM_REMIND_*``)."""
    def start(**env: str) -> None:
        sm("daemon", "start", env=env)
    return start


@pytest.fixture
def as_session(session_env: Callable[[str], dict[str, str | None]]) -> Callable[..., Any]:
    """``as_session(record)``: the environment that makes ``sm`` speak as that agent."""
    return lambda rec: session_env(rec["id"])
