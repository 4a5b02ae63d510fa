"""sm kb search|add|edit|rm|list|show|memory. (``sm kb learn`` is on the agents' fast
path: ``finish``.)"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from sm.cli.output import console, emit_json
from sm.client import Client
from sm.errors import InvalidInput

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
app = typer.Typer(help="The knowledge base: what agents learned, searchable by words.",
                  no_args_is_help=True)


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
    return "\n".join(f"{k:>6}: {v}" for k, v in head) + "\n\n" + e["content"]


def _tags(text: str | None) -> list[str]:
    return [t for t in (text or "").split(",") if t.strip()]


def _content(words: list[str]) -> str:
    return sys.stdin.read() if words == ["-"] else " ".join(words)


@app.command()
def search(
    words: list[str],
    project: Annotated[str | None, typer.Option(help="Only global entries and this "
                                                     "project's.")] = None,
    limit: Annotated[int, typer.Option("-n", "--limit")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Entries with all the words (any of them when none has all), best first."""
    items = Client().get("/kb/search", q=" ".join(words), project=project, limit=limit)["items"]
    emit_json(items) if as_json else console().print(format_entries(items), markup=False)


@app.command()
def add(
    title: str,
    content: Annotated[list[str], typer.Argument(help="The text; - reads stdin.")],
    tags: Annotated[str | None, typer.Option(help="Comma-separated.")] = None,
    scope: Annotated[str, typer.Option(help="project | global")] = "project",
    project: Annotated[str | None, typer.Option(help="Default: jobs.project.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add an entry (merged into an existing one when it duplicates it)."""
    data = Client().post("/kb", {"title": title, "content": _content(content),
                                 "tags": _tags(tags), "scope": scope, "project": project})
    e = data["entry"]
    emit_json(data) if as_json else console().print(
        f"{'merged into' if data['merged'] else 'added'} #{e['id']} {e['title']}", markup=False)


@app.command()
def edit(
    entry_id: Annotated[int, typer.Argument(metavar="ID")],
    title: Annotated[str | None, typer.Option()] = None,
    content: Annotated[str | None, typer.Option(help="The new text; - reads stdin.")] = None,
    tags: Annotated[str | None, typer.Option(help="Comma-separated (replaces them).")] = None,
    scope: Annotated[str | None, typer.Option()] = None,
    project: Annotated[str | None, typer.Option()] = None,
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


@app.command("rm")
def remove(entry_id: Annotated[int, typer.Argument(metavar="ID")],
           as_json: JsonOpt = False) -> None:
    """Remove an entry."""
    e = Client().request("DELETE", f"/kb/{entry_id}")
    emit_json(e) if as_json else console().print(f"#{e['id']} {e['title']} removed",
                                                 markup=False)


@app.command("list")
def list_(
    project: Annotated[str | None, typer.Option()] = None,
    scope: Annotated[str | None, typer.Option(help="project | global")] = None,
    tag: Annotated[str | None, typer.Option()] = None,
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


@app.command()
def show(entry_id: Annotated[int, typer.Argument(metavar="ID")],
         as_json: JsonOpt = False) -> None:
    """One entry in full."""
    e = Client().get(f"/kb/{entry_id}")
    emit_json(e) if as_json else console().print(format_entry(e), markup=False)


@app.command()
def memory(
    project: str,
    text: Annotated[list[str], typer.Argument(help="What the job is about.")],
    as_json: JsonOpt = False,
) -> None:
    """Preview the ## Memory section a job of PROJECT about TEXT would get."""
    data = Client().get("/kb/memory", project=project, text=" ".join(text))
    emit_json(data) if as_json else sys.stdout.write((data["text"] or "(no memory)") + "\n")


@app.command("learn", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def learn() -> None:
    """From an agent: sm kb learn "TITLE: CONTENT" … (up to 5 at a time)."""
