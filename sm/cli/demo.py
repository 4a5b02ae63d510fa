"""sm demo: the main job on embedded defaults — a small team of scripted agents.

An orchestrator (``agents/scripts/demo-orchestrator.yaml``) runs in a scratch workspace
under ``$SM_HOME/demo/``; it spawns two workers (``demo-worker.yaml``, copied there),
dispatches each a task, is woken by each worker's report, and says "demo complete"
when both have reported. Then the demo cleans up what it started — the team, its
workspace, and the daemon when the demo started it (which ends sm's tmux server) —
unless ``--keep`` leaves them running.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from sm.cli.output import console, progress
from sm.cli.typer_help import command
from sm.client import Client

SCRIPTS = Path(__file__).resolve().parent.parent / "agents" / "scripts"


def demo(
    timeout: Annotated[float, typer.Option(
        metavar="SECONDS", help="Give up after this many seconds.")] = 60.0,
    keep: Annotated[bool, typer.Option(
        "--keep/--no-keep", help="Leave the team (and the daemon) running afterwards.")]
    = False,
) -> None:
    """Spawn an orchestrator and two workers (scripted agents), show them work, summarise.

    Afterwards the team is stopped, its workspace removed and, when the demo started the
    daemon, the daemon stopped too; --keep leaves everything running."""
    from rich.live import Live
    from rich.text import Text

    from sm.cli.tables import width
    from sm.cli.views import format_sessions

    client = Client()
    started_daemon = not client.is_up()
    suffix = time.strftime("%H%M%S")
    workspace = Path(client.home) / "demo" / suffix
    workspace.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCRIPTS / "demo-worker.yaml", workspace / "demo-worker.yaml")
    em: dict[str, Any] = {}
    done = False
    try:
        em = client.post("/sessions", {
            "provider": "scripted", "name": f"em-{suffix}", "cwd": str(workspace),
            "options": {"script": str(SCRIPTS / "demo-orchestrator.yaml")},
            "prompt": f"Run the demo: split the work between two workers. suffix={suffix}",
        })
        console().print(f"spawned orchestrator [bold]{em['name']}[/] ({em['id']}) in "
                        f"{workspace}")
        deadline = time.monotonic() + timeout
        with Live(console=console(), refresh_per_second=4) as live:
            while time.monotonic() < deadline:
                team = _team(client, em)
                live.update(Text(format_sessions(team, cols=width())))
                me = next(s for s in team if s["id"] == em["id"])
                if "demo complete" in (me.get("last_message") or ""):
                    done = True
                    break
                time.sleep(0.25)
        _summary(client, em, done)
    finally:
        if keep and em:
            _hint(em, started_daemon)
        else:
            _clean_up(client, em, workspace, started_daemon)
    if not done:
        raise typer.Exit(1)


def _team(client: Client, em: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in client.get("/sessions")["items"]
            if s["id"] == em["id"] or s.get("parent_id") == em["id"]]


def _summary(client: Client, em: dict[str, Any], done: bool) -> None:
    from sm.cli.tables import cut, width

    cols = width()
    out = console()
    out.print()
    out.print("[bold green]demo complete[/]" if done else "[bold yellow]demo timed out[/]")
    team = _team(client, em)
    name_width = max(len(s["name"] or s["id"]) for s in team)
    for s in team:
        head = f"  {s['name'] or s['id']:<{name_width}}  {s['state']:<10} "
        out.print(head + cut(s.get("last_message") or "", max(10, cols - len(head))),
                  markup=False, highlight=False)
    events = client.get("/events", limit=1, newest=1)["items"]
    if events:
        out.print(f"  {events[-1]['seq']} events logged — see them with: sm events")


def _hint(em: dict[str, Any], started_daemon: bool) -> None:
    stop = f"sm kill --tree {em['name']}" + (" && sm daemon stop" if started_daemon else "")
    console().print(f"kept running — attach: sm attach {em['name']}  ·  list: sm list\n"
                    f"stop it all: {stop}", markup=False, highlight=False)


def _clean_up(client: Client, em: dict[str, Any], workspace: Path, stop_daemon: bool) -> None:
    """Stop the team (workers first), remove the workspace, stop the daemon if the demo
    started it. Best effort: a failure here never hides the demo's own outcome."""
    from sm.cli.daemon import _stop
    from sm.cli.fast import all_sessions
    from sm.cli.sessions import plan_kill
    from sm.errors import SmError

    with progress("cleaning up the demo"):
        try:
            if em:
                for sid in plan_kill(all_sessions(client), [em["id"]], False, True):
                    client.post(f"/sessions/{sid}/kill")
            if stop_daemon and not _stop(10.0)[1]:
                print("sm: the daemon is still stopping", file=sys.stderr)
        except SmError as exc:
            print(f"sm: demo clean-up: {exc.message}", file=sys.stderr)
    shutil.rmtree(workspace, ignore_errors=True)
    what = "the team and the daemon" if stop_daemon else "the team"
    console().print(f"stopped {what}; sm demo --keep leaves them running")


def register(app: typer.Typer) -> None:
    command(app)(demo)
