"""sm attach: your terminal in an agent's pane — also from inside tmux.

Outside tmux, ``tmux attach`` on sm's server (detach: ``C-b d``). Inside a pane of sm's
own server, ``switch-client``: no nesting. Inside another tmux, a nested client (``TMUX``
unset for it); sm's server keeps tmux's default prefix ``C-b``, so when your tmux uses
``C-b`` too, ``C-b d`` detaches your outer client and ``C-b C-b d`` the inner one. sm
says which before it attaches and shows it in sm's status line for a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

import typer

from sm.cli.output import console
from sm.client import Client, quote_ref
from sm.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class Plan:
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    hint: str = ""  # printed on stderr before attaching ("" for none)
    needs_tty: bool = True


def plan(
    label: str, tmux_session: str, socket_name: str, socket_path: str,
    environ: Mapping[str, str], outer_prefix: str | None = None,
) -> Plan:
    """How to attach to ``tmux_session`` on sm's server from where the user is.
    ``outer_prefix``: the prefix key of the tmux the user is in (when in another one)."""
    target = f"={tmux_session}"
    inside = environ.get("TMUX", "")
    if inside and os.path.realpath(inside.split(",")[0]) == os.path.realpath(socket_path):
        return Plan(["tmux", "-L", socket_name, "switch-client", "-t", target], dict(environ),
                    needs_tty=False)
    env = {k: v for k, v in environ.items() if k not in ("TMUX", "TMUX_PANE")}
    if not inside:
        detach = "C-b d"
        hint = ""
    elif (outer_prefix or "C-b") == "C-b":
        detach = "C-b C-b d"
        hint = (f"sm: {label} opens nested in your tmux: detach from it with {detach} "
                "(C-b d alone detaches your own tmux)")
    else:
        detach = "C-b d"
        hint = (f"sm: {label} opens nested in your tmux (prefix {outer_prefix}): detach "
                f"from it with {detach}")
    message = f"sm: {label} — detach with {detach}"
    argv = ["tmux", "-L", socket_name, "attach-session", "-t", target, ";",
            "display-message", "-d", "4000", message]
    return Plan(argv, env, hint)


def _outer_prefix() -> str | None:
    try:
        out = subprocess.run(["tmux", "show-options", "-gv", "prefix"], capture_output=True,
                             text=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def attach(
    session: Annotated[str | None, typer.Argument(
        metavar="SESSION", help="Id, unique id prefix or name (default: pick from a menu).",
        show_default=False)] = None,
) -> None:
    """Attach your terminal to a session's pane (a menu when none is named).

    Detach with C-b d. Inside a pane of sm's own tmux server it switches your client
    instead; nested inside another tmux, detach with C-b C-b d."""
    client = Client()
    if session is None:
        live = client.get("/sessions", live=1)["items"]
        if not live:
            raise NotFound("no live sessions to attach to")
        for i, s in enumerate(live, 1):
            console().print(f"{i:>3}. {s['name'] or '-':<16} {s['id']}  {s['state']}")
        choice = typer.prompt("attach to", default="1")
        try:
            target = live[int(choice) - 1]
        except (ValueError, IndexError):
            raise InvalidInput(f"no entry {choice!r} in the menu") from None
    else:
        target = client.get(f"/sessions/{quote_ref(session)}")
    label = target["name"] or target["id"]
    if target["state"] == "stopped":
        raise Conflict(f"{label} is stopped: its tmux session is gone "
                       f"(sm restore {label} relaunches it)")
    health = client.get("/health")
    socket_name = health["tmux_socket"]
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    socket_path = os.path.join(base, f"tmux-{os.getuid()}", socket_name)
    inside = bool(os.environ.get("TMUX"))
    how = plan(label, target["tmux_session"], socket_name, socket_path, os.environ,
               _outer_prefix() if inside else None)
    if how.needs_tty and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise InvalidInput("sm attach needs a terminal (stdin and stdout are not one)")
    if how.hint:
        print(how.hint, file=sys.stderr)
    if not how.needs_tty:
        code = subprocess.run(how.argv, env=how.env, stdin=subprocess.DEVNULL).returncode
        raise typer.Exit(code)
    os.execvpe("tmux", how.argv, how.env)
