"""sm repo add|list|rm: the registry of repos worktrees are cut from."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from sm.cli.output import console, emit_json
from sm.cli.typer_help import JSON_HELP, command, group
from sm.client import Client, quote_ref

app = group("Registered repos (remote ones kept as bare mirrors).")
JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]


@command(app)
def add(
    spec: Annotated[str, typer.Argument(
        metavar="URL|PATH|OWNER/NAME", help="A git URL, a local repo, or a GitHub OWNER/NAME.")],
    name: Annotated[str | None, typer.Option("--name", help="Default: the repo's name.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a repo; a remote one is cloned as a bare mirror under $SM_HOME/repos."""
    data = Client(timeout=1800.0).post("/repos", {"spec": spec, "name": name,
                                                  "cwd": os.getcwd()})
    emit_json(data) if as_json else console().print(
        f"added {data['name']} ({data['kind']}): {data['path']}")


@command(app, "list")
def list_repos(as_json: JsonOpt = False) -> None:
    """Registered repos."""
    items = Client().get("/repos")["items"]
    if as_json:
        emit_json(items)
        return
    lines = [f"{r['name']:<20} {r['kind']:<7} {r['url'] or r['path']}" for r in items]
    sys.stdout.write("\n".join(lines or ["no repos — add one: sm repo add URL|PATH"]) + "\n")


@command(app)
def rm(
    name: Annotated[str, typer.Argument(help="The repo's registered name.")],
    force: Annotated[bool, typer.Option("--force", help="Even with worktrees left.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Unregister a repo (a mirror's clone is deleted; a local repo is left alone)."""
    data = Client().post(f"/repos/{quote_ref(name)}/remove?force={str(force).lower()}")
    emit_json(data) if as_json else console().print(f"removed {data['name']}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="repo")
