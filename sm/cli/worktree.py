"""sm worktree list|gc, sm conflicts, sm pr, sm guard install [REPO]."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from sm.cli.output import console, emit_json
from sm.cli.typer_help import JSON_HELP, command, group
from sm.client import Client, quote_ref
from sm.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
app = group("Session worktrees: list them, collect the finished ones.")
guard_app = group("sm's git pre-commit guard.")


def format_gc(data: dict[str, Any]) -> str:
    from sm.cli.views import size

    lines = [f"removed {r['session']}: {r['path']} ({size(r['freed'])})"
             + (" [forced]" if r["forced"] else "") for r in data["removed"]]
    lines += [f"kept    {k['session']}: {k['path']} — {k['reason']}" for k in data["kept"]]
    lines.append(f"freed {size(data['freed'])}; {size(data['reclaimable'])} kept "
                 "(remove one anyway: sm worktree gc --force NAME)")
    return "\n".join(lines)


@command(app, "list")
def list_worktrees(as_json: JsonOpt = False) -> None:
    """Each worktree: its session, branch, uncommitted/unpushed counts, disk size."""
    from sm.cli.views import format_worktrees

    items = Client().get("/worktrees")["items"]
    if as_json:
        emit_json(items)
    else:
        sys.stdout.write((format_worktrees(items) if items else "no worktrees") + "\n")


@command(app)
def gc(
    force: Annotated[str | None, typer.Option(
        "--force", metavar="SESSION|PATH",
        help="Remove this one even with unsaved work.")] = None,
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
    session: Annotated[str | None, typer.Argument(
        metavar="SESSION", help="Whose branch (default: your own session).",
        show_default=False)] = None,
    draft: Annotated[bool, typer.Option("--draft", help="Open it as a draft PR.")] = False,
    title: Annotated[str | None, typer.Option(
        "--title", help="The PR's title (default: from the commits).")] = None,
    body_file: Annotated[Path | None, typer.Option(
        "--body-file", metavar="FILE", help="The PR's description, from FILE.")] = None,
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


@command(guard_app)
def install(
    repo: Annotated[str | None, typer.Argument(
        metavar="REPO", help="A repo's path or registered name (default: the one holding the "
        "cwd).", show_default=False)] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Replace a foreign pre-commit hook (kept as .sm-backup).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Install the pre-commit guard in a repo (all its worktrees share it)."""
    from sm.client import sm_home
    from sm.git.guard import install as install_guard

    path = install_guard(_repo_path(repo), Path(sm_home()), force)
    if as_json:
        emit_json({"path": str(path)})
    else:
        console().print(f"installed sm's pre-commit guard: {path}")


def _repo_path(repo: str | None) -> str:
    """A directory as given; otherwise a registered repo's path. Raises NotFound."""
    if repo is None:
        return os.getcwd()
    if os.path.isdir(repo):
        return os.path.abspath(repo)
    from sm.errors import NotFound

    for r in Client().get("/repos")["items"]:
        if r["name"] == repo:
            return str(r["path"])
    raise NotFound(f"no repo {repo!r}: neither a directory nor a registered repo "
                   "(see: sm repo list)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="worktree")
    root.add_typer(guard_app, name="guard")
    command(root)(conflicts)
    command(root)(pr)
