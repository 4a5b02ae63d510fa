"""sm events [SESSION] [--follow] [--json]."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from sm.cli.output import emit_json, format_event
from sm.cli.typer_help import command
from sm.client import Client


def events(
    session: Annotated[str | None, typer.Argument(
        metavar="SESSION", help="Only this session's events (default: all).",
        show_default=False)] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Keep printing new events as they happen.")] = False,
    limit: Annotated[int, typer.Option(
        "-n", "--limit", metavar="N", help="The newest N events.")] = 50,
    after: Annotated[int | None, typer.Option(
        "--after", metavar="SEQ", help="Only events after this seq (oldest first).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON (with --follow: one event a line).")] = False,
) -> None:
    """The event log: every state change, hook and command, with its evidence."""
    client = Client()
    names = {s["id"]: s["name"] or s["id"] for s in client.get("/sessions")["items"]}
    if after is None:
        items = client.get("/events", session=session, limit=limit, newest=1)["items"]
    else:
        items = client.get("/events", session=session, after=after, limit=limit)["items"]
    if as_json and not follow:
        emit_json(items)
        return
    for e in items:
        _show(e, names, as_json)
    if not follow:
        return
    last = items[-1]["seq"] if items else None
    for line in client.stream("/events/stream", session=session, after=last):
        if line.startswith("data: "):
            _show(json.loads(line[6:]), names, as_json)


def _show(e: dict[str, object], names: dict[str, str], as_json: bool) -> None:
    sys.stdout.write((json.dumps(e) if as_json else format_event(e, names)) + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    command(app)(events)
