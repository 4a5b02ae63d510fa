"""sm daemon run|start|stop|status|restart."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from sm.cli.output import console, emit_json, progress
from sm.cli.typer_help import JSON_HELP, command, group
from sm.client import Client

app = group("Run and control the sm daemon.")
ConfigOpt = Annotated[Path | None, typer.Option(
    "--config", metavar="FILE", help="The config.yaml to use.")]
JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", metavar="SECONDS", help="How long to wait for it to exit.")]


def _pid(client: Client) -> int | None:
    try:
        return int((Path(client.home) / "daemon.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs. A daemon this process started (``sm demo``) is its
    child: reap it, or it lingers as a zombie that signal 0 still reaches."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@command(app)
def run(config: ConfigOpt = None) -> None:
    """Serve in the foreground (logs go to $SM_HOME/logs/daemon.log)."""
    from sm.daemon import server

    server.serve(config)


def _start(as_json: bool) -> None:
    client = Client()
    if not client.is_up():
        with progress("starting the sm daemon"):
            client.start_daemon()
    health = client.get("/health")
    if as_json:
        emit_json(health)
    else:
        console().print(f"sm daemon running (pid {health['pid']})")


def _stop(timeout: float) -> tuple[int | None, bool]:
    """Ask the daemon to stop and wait up to ``timeout`` seconds: its pid (None when none
    ran) and whether it has exited. It finishes stopping on its own either way."""
    client = Client(autostart=False)
    pid = _pid(client)
    if pid is None or not client.is_up():
        return None, True
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with progress(f"waiting for the sm daemon (pid {pid}) to stop"):
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.02)
    return pid, not _alive(pid)


def _say_stopped(pid: int | None, done: bool, timeout: float) -> None:
    if pid is None:
        console().print("sm daemon is not running")
    elif done:
        console().print(f"sm daemon stopped (pid {pid})")
    else:
        console().print(f"sm daemon stopping (pid {pid}): still running after {timeout:g}s")


@command(app)
def start(as_json: JsonOpt = False) -> None:
    """Start the daemon in the background (a no-op when it runs)."""
    _start(as_json)


@command(app)
def stop(timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Stop the daemon. Running agents keep running in sm's tmux server; a server with
    none left in it stops too. Waits up to --timeout for it to exit (it finishes on its
    own after that)."""
    pid, done = _stop(timeout)
    emit_json({"pid": pid, "stopped": done}) if as_json else _say_stopped(pid, done, timeout)


@command(app)
def status(as_json: JsonOpt = False) -> None:
    """Is the daemon up; which pid, socket and tmux server (exit 1 when it is not;
    --json says {"ok": false} and exits 0)."""
    client = Client(autostart=False)
    data = client.get("/health") if client.is_up() else {"ok": False}
    if as_json:
        emit_json(data)
    elif data["ok"]:
        console().print(f"sm daemon running: pid {data['pid']}, up {data['uptime']:.0f}s, "
                        f"socket {client.socket_path}, tmux -L {data['tmux_socket']}")
    else:
        console().print("sm daemon is not running")
        raise typer.Exit(1)


@command(app)
def restart(timeout: TimeoutOpt = 10.0, as_json: JsonOpt = False) -> None:
    """Stop, then start."""
    pid, done = _stop(timeout)
    if not done:
        from sm.errors import Unavailable

        raise Unavailable(f"the sm daemon (pid {pid}) is still stopping after {timeout:g}s; "
                          "run sm daemon start once it has")
    if not as_json:
        _say_stopped(pid, done, timeout)
    _start(as_json)
