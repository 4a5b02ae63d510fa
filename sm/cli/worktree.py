"""sm worktree list|gc, sm conflicts, sm pr, sm guard install."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sm.cli.output import console, emit_json
from sm.client import Client, quote_ref
from sm.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
app = typer.Typer(help="Session worktrees: list them, collect the finished ones.",
                  no_args_is_help=True)
guard_app = typer.Typer(help="sm's git pre-commit guard.", no_args_is_help=True)


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


def format_worktrees(items: list[dict[str, Any]]) -> str:
    if not items:
        return "no worktrees"
    lines = [f"{'SESSION':<16} {'STATE':<10} {'BRANCH':<24} {'DIRTY':>5} {'UNPUSHED':>8} "
             f"{'SIZE':>7}  PATH"]
    for w in items:
        lines.append(f"{w['session']:<16} {w['state']:<10} {w['branch']:<24} {w['dirty']:>5} "
                     f"{w['unpushed']:>8} {size(w['size']):>7}  {w['path']}")
    return "\n".join(lines)


def format_gc(data: dict[str, Any]) -> str:
    lines = [f"removed {r['session']}: {r['path']} ({size(r['freed'])})"
             + (" [forced]" if r["forced"] else "") for r in data["removed"]]
    lines += [f"kept    {k['session']}: {k['path']} — {k['reason']}" for k in data["kept"]]
    lines.append(f"freed {size(data['freed'])}; {size(data['reclaimable'])} kept "
                 "(remove one anyway: sm worktree gc --force NAME)")
    return "\n".join(lines)


@app.command("list")
def list_worktrees(as_json: JsonOpt = False) -> None:
    """Each worktree: its session, branch, uncommitted/unpushed counts, disk size."""
    items = Client().get("/worktrees")["items"]
    emit_json(items) if as_json else sys.stdout.write(format_worktrees(items) + "\n")


@app.command()
def gc(
    force: Annotated[str | None, typer.Option(
        "--force", help="Remove this one (session or path) even with unsaved work.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove ended sessions' worktrees that hold nothing uncommitted or unpushed."""
    data = Client().post("/worktrees/gc", {"force": force})
    emit_json(data) if as_json else sys.stdout.write(format_gc(data) + "\n")


def conflicts(as_json: JsonOpt = False) -> None:
    """Predict textual conflicts between live worktrees, and with their bases."""
    data = Client().get("/worktrees/conflicts")
    if as_json:
        emit_json(data)
    else:
        lines = [f"{c['a']} ⇄ {c['b']}: {', '.join(c['files'])}" for c in data["conflicts"]]
        lines.append(f"{len(data['conflicts'])} conflict(s) among {len(data['worktrees'])} "
                     f"live worktree(s) ({data['checked']} merges checked)")
        sys.stdout.write("\n".join(lines) + "\n")
    if data["conflicts"]:
        raise typer.Exit(1)


def pr(
    session: Annotated[str | None, typer.Argument(help="Default: your own session.")] = None,
    draft: Annotated[bool, typer.Option("--draft")] = False,
    title: Annotated[str | None, typer.Option("--title")] = None,
    body_file: Annotated[Path | None, typer.Option("--body-file")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Commit leftovers unasked.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Commit leftovers, push the session's branch, open (or reuse) its PR with gh."""
    client = Client(timeout=600.0)
    ref = session or client.session_id
    if not ref:
        raise InvalidInput("which session? sm pr SESSION (or run it inside one)")
    body = body_file.read_text(encoding="utf-8") if body_file else None
    commit = True
    if not client.token and sys.stdin.isatty() and not yes:
        status = client.get(f"/sessions/{quote_ref(ref)}/pr")
        if status["dirty"]:
            shown = ", ".join(status["dirty"][:8]) + (" …" if len(status["dirty"]) > 8 else "")
            commit = typer.confirm(f"{len(status['dirty'])} uncommitted file(s) in "
                                   f"{status['cwd']} ({shown}). Commit them?", default=True)
    data = client.post(f"/sessions/{quote_ref(ref)}/pr", {
        "title": title, "body": body, "draft": draft, "commit": commit,
    })
    if as_json:
        emit_json(data)
    else:
        out = console()
        if data["committed"]:
            out.print(f"committed leftovers as {data['committed'][:10]}")
        out.print(f"pushed {data['branch']} to {data['remote']}")
        if data["pr_url"]:
            out.print(("PR (existing): " if data["reused"] else "PR: ") + data["pr_url"])
        if data["compare"]:
            out.print(f"compare: {data['compare']}")
        if data["note"]:
            print(f"sm: {data['note']}", file=sys.stderr)
    if not data["pr_url"]:
        raise typer.Exit(1)


@guard_app.command()
def install(
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a foreign pre-commit hook (kept as .sm-backup).")] = False,
) -> None:
    """Install the pre-commit guard in the repo holding the cwd (all its worktrees)."""
    from sm.client import sm_home
    from sm.git.guard import install as install_guard

    path = install_guard(os.getcwd(), Path(sm_home()), force)
    console().print(f"installed sm's pre-commit guard: {path}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="worktree")
    root.add_typer(guard_app, name="guard")
    root.command()(conflicts)
    root.command()(pr)
