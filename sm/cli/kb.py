"""sm kb search|add|edit|rm|list|show|memory. (``sm kb learn`` is on the agents' fast
path: ``finish``.)"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from sm.cli.output import console, emit_json
from sm.cli.typer_help import JSON_HELP, command, group
from sm.client import Client
from sm.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
app = group("The knowledge base: what agents learned, searchable by words.")


def format_entries(items: list[dict[str, Any]], ranked: bool = False) -> str:
    if not items:
        return "no entries"
    lines = []
    for e in items:
        where = e["project"] if e["scope"] == "project" else "global"
        tags = " ".join(f"#{t}" for t in e["tags"])
        lines.append(f"#{e['id']:<5} {e['title'][:60]}  [{where}] ×{e['seen']} {tags}".rstrip())
        lines.append(f"       {' '.join(e['content'].split())[:160]}")
    return "\n".join(lines)


def format_entry(e: dict[str, Any]) -> str:
    head = [("id", str(e["id"])), ("title", e["title"]),
            ("scope", e["scope"] + (f" ({e['project']})" if e["project"] else "")),
            ("tags", " ".join(e["tags"]) or "-"), ("seen", str(e["seen"])),
            ("by", e["agent"] + (f", job {e['job_id']}" if e["job_id"] else ""))]
    return "\n".join(f"{k:>6}: {v}" for k, v in head) + "\n\n" + str(e["content"])


def _tags(text: str | None) -> list[str]:
    return [t for t in (text or "").split(",") if t.strip()]


def _content(words: list[str]) -> str:
    return sys.stdin.read() if words == ["-"] else " ".join(words)


@command(app)
def search(
    words: Annotated[list[str], typer.Argument(help="The words to look for.")],
    project: Annotated[str | None, typer.Option(
        metavar="PROJECT", help="Only global entries and this project's.")] = None,
    limit: Annotated[int, typer.Option("-n", "--limit", metavar="N",
                                       help="At most N entries.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Entries with all the words (any of them when none has all), best first."""
    items = Client().get("/kb/search", q=" ".join(words), project=project, limit=limit)["items"]
    emit_json(items) if as_json else console().print(format_entries(items), markup=False)


@command(app)
def add(
    title: Annotated[str, typer.Argument(help="A short title.")],
    content: Annotated[list[str], typer.Argument(help="The text; - reads stdin.")],
    tags: Annotated[str | None, typer.Option(metavar="A,B", help="Comma-separated.")] = None,
    scope: Annotated[str, typer.Option(metavar="SCOPE", help="project | global")] = "project",
    project: Annotated[str | None, typer.Option(
        metavar="PROJECT", help="Default: jobs.project.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an entry (merged into an existing one when it duplicates it)."""
    data = Client().post("/kb", {"title": title, "content": _content(content),
                                 "tags": _tags(tags), "scope": scope, "project": project})
    e = data["entry"]
    emit_json(data) if as_json else console().print(
        f"{'merged into' if data['merged'] else 'added'} #{e['id']} {e['title']}", markup=False)


@command(app)
def edit(
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry's id.")],
    title: Annotated[str | None, typer.Option(metavar="TITLE", help="A new title.")] = None,
    content: Annotated[str | None, typer.Option(
        metavar="TEXT", help="The new text; - reads stdin.")] = None,
    tags: Annotated[str | None, typer.Option(
        metavar="A,B", help="Comma-separated (replaces them).")] = None,
    scope: Annotated[str | None, typer.Option(metavar="SCOPE", help="project | global")] = None,
    project: Annotated[str | None, typer.Option(
        metavar="PROJECT", help="The project it belongs to.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an entry."""
    body: dict[str, Any] = {"title": title, "scope": scope, "project": project,
                            "content": _content([content]) if content is not None else None,
                            "tags": _tags(tags) if tags is not None else None}
    if all(v is None for v in body.values()):
        raise InvalidInput("nothing to change: give --title, --content, --tags, --scope or "
                           "--project")
    e = Client().request("PATCH", f"/kb/{entry_id}", body)
    emit_json(e) if as_json else console().print(f"#{e['id']} {e['title']} changed",
                                                 markup=False)


@command(app, "rm")
def remove(entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry's id.")],
           as_json: JsonOpt = False) -> None:
    """Remove an entry."""
    e = Client().request("DELETE", f"/kb/{entry_id}")
    emit_json(e) if as_json else console().print(f"#{e['id']} {e['title']} removed",
                                                 markup=False)


@command(app, "list")
def list_(
    project: Annotated[str | None, typer.Option(
        metavar="PROJECT", help="Only global entries and this project's.")] = None,
    scope: Annotated[str | None, typer.Option(metavar="SCOPE", help="project | global")] = None,
    tag: Annotated[str | None, typer.Option(metavar="TAG", help="Only entries with this tag.")
                   ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Every entry (filtered), oldest first."""
    client, items, after = Client(), [], 0
    while True:
        page = client.get("/kb", project=project, scope=scope, tag=tag, after=after or None,
                          limit=1000)
        items += page["items"]
        if not (after := page["next"]):
            break
    emit_json(items) if as_json else console().print(format_entries(items), markup=False)


@command(app)
def show(entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry's id.")],
         as_json: JsonOpt = False) -> None:
    """One entry in full."""
    e = Client().get(f"/kb/{entry_id}")
    emit_json(e) if as_json else console().print(format_entry(e), markup=False)


@command(app)
def memory(
    project: Annotated[str, typer.Argument(help="The job's project.")],
    text: Annotated[list[str], typer.Argument(help="What the job is about.")],
    as_json: JsonOpt = False,
) -> None:
    """Preview the ## Memory section a job of PROJECT about TEXT would get."""
    data = Client().get("/kb/memory", project=project, text=" ".join(text))
    emit_json(data) if as_json else sys.stdout.write((data["text"] or "(no memory)") + "\n")


@command(app, "learn", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def learn() -> None:
    """From an agent: sm kb learn "TITLE: CONTENT" … (up to 5 at a time)."""
