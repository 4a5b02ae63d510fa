"""sm repo add|list|rm: the registry of repos worktrees are cut from."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from sm.cli.output import console, emit_json
from sm.client import Client, quote_ref

app = typer.Typer(help="Registered repos (remote ones kept as bare mirrors).",
                  no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command()
def add(
    spec: Annotated[str, typer.Argument(metavar="URL|PATH|OWNER/NAME")],
    name: Annotated[str | None, typer.Option("--name", help="Default: the repo's name.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a repo; a remote one is cloned as a bare mirror under $SM_HOME/repos."""
    data = Client(timeout=1800.0).post("/repos", {"spec": spec, "name": name,
                                                  "cwd": os.getcwd()})
    emit_json(data) if as_json else console().print(
        f"added {data['name']} ({data['kind']}): {data['path']}")


@app.command("list")
def list_repos(as_json: JsonOpt = False) -> None:
    """Registered repos."""
    items = Client().get("/repos")["items"]
    if as_json:
        emit_json(items)
        return
    lines = [f"{r['name']:<20} {r['kind']:<7} {r['url'] or r['path']}" for r in items]
    sys.stdout.write("\n".join(lines or ["no repos — add one: sm repo add URL|PATH"]) + "\n")


@app.command()
def rm(
    name: str,
    force: Annotated[bool, typer.Option("--force", help="Even with worktrees left.")] = False,
) -> None:
    """Unregister a repo (a mirror's clone is deleted; a local repo is left alone)."""
    data = Client().post(f"/repos/{quote_ref(name)}/remove?force={str(force).lower()}")
    console().print(f"removed {data['name']}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="repo")
