"""sm demo: the main job on embedded defaults — a small team of scripted agents.

An orchestrator (``agents/scripts/demo-orchestrator.yaml``) runs in a scratch workspace
under ``$SM_HOME/demo/``; it spawns two workers (``demo-worker.yaml``, copied there),
dispatches each a task, is woken by each worker's report, and says "demo complete"
when both have reported.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from sm.cli.output import console, format_sessions
from sm.client import Client

SCRIPTS = Path(__file__).resolve().parent.parent / "agents" / "scripts"


def demo(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 60.0,
    keep: Annotated[bool, typer.Option("--keep/--no-keep", help="Leave the team running.")] = True,
) -> None:
    """Spawn an orchestrator and two workers (scripted agents), show them work, summarise."""
    from rich.live import Live

    client = Client()
    suffix = time.strftime("%H%M%S")
    workspace = Path(client.home) / "demo" / suffix
    workspace.mkdir(parents=True, exist_ok=True)
    shutil.copy(SCRIPTS / "demo-worker.yaml", workspace / "demo-worker.yaml")
    em = client.post("/sessions", {
        "provider": "scripted", "name": f"em-{suffix}", "cwd": str(workspace),
        "options": {"script": str(SCRIPTS / "demo-orchestrator.yaml")},
        "prompt": f"Run the demo: split the work between two workers. suffix={suffix}",
    })
    console().print(f"spawned orchestrator [bold]{em['name']}[/] ({em['id']}) in {workspace}")
    deadline = time.monotonic() + timeout
    done = False
    with Live(console=console(), refresh_per_second=4) as live:
        while time.monotonic() < deadline:
            team = [s for s in client.get("/sessions")["items"]
                    if s["id"] == em["id"] or s.get("parent_id") == em["id"]]
            live.update(format_sessions(team))
            me = next(s for s in team if s["id"] == em["id"])
            if "demo complete" in (me.get("last_message") or ""):
                done = True
                break
            time.sleep(0.25)
    _summary(client, em, done, keep, workspace)


def _summary(
    client: Client, em: dict[str, object], done: bool, keep: bool, workspace: Path
) -> None:
    team = [s for s in client.get("/sessions")["items"]
            if s["id"] == em["id"] or s.get("parent_id") == em["id"]]
    out = console()
    out.print()
    out.print("[bold green]demo complete[/]" if done else "[bold yellow]demo timed out[/]")
    for s in team:
        out.print(f"  {s['name'] or s['id']:<14} {s['state']:<10} {s.get('last_message') or ''}")
    events = client.get("/events", limit=1, newest=1)["items"]
    if events:
        out.print(f"  {events[-1]['seq']} events logged — see them with: sm events")
    if keep:
        out.print(f"attach with: sm attach {em['name']}   ·   list: sm list   ·   "
                  f"stop: sm kill {em['name']}")
    else:
        for s in team:
            client.post(f"/sessions/{s['id']}/kill")
        shutil.rmtree(workspace, ignore_errors=True)
    if not done:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(demo)
