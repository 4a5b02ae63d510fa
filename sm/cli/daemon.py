"""sm daemon run|start|stop|status|restart."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from sm.cli.output import console, emit_json
from sm.client import Client

app = typer.Typer(help="Run and control the sm daemon.", no_args_is_help=True)
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="config.yaml to use.")]


def _pid(client: Client) -> int | None:
    try:
        return int((Path(client.home) / "daemon.pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@app.command()
def run(config: ConfigOpt = None) -> None:
    """Serve in the foreground (logs go to $SM_HOME/logs/daemon.log)."""
    from sm import config as cfg
    from sm.daemon import server

    settings = cfg.load(config)
    for warning in cfg.env_warnings(os.environ):
        print(f"sm: warning: {warning}", file=sys.stderr)
    server.run(settings)


@app.command()
def start() -> None:
    """Start the daemon in the background (a no-op when it runs)."""
    client = Client()
    if not client.is_up():
        client.start_daemon()
    console().print(f"sm daemon running (pid {client.get('/health')['pid']})")


@app.command()
def stop(timeout: float = 10.0) -> None:
    """Stop the daemon; agents keep running in sm's tmux server."""
    client = Client(autostart=False)
    pid = _pid(client)
    if pid is None or not client.is_up():
        console().print("sm daemon is not running")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.02)
    console().print(f"sm daemon stopped (pid {pid})")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Is the daemon up; which pid, socket and tmux server."""
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


@app.command()
def restart() -> None:
    """Stop, then start."""
    stop()
    start()
