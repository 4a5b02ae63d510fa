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
    kind: Annotated[str | None, typer.Option(
        "--kind", metavar="KINDS",
        help="Only these kinds (a comma list: state,message,…).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print JSON (with --follow: one event a line).")] = False,
) -> None:
    """The event log: every state change, hook and command, with its evidence. With
    --follow, live events too; it rides out a daemon restart with no gap."""
    client = Client()
    names = {s["id"]: s["name"] or s["id"] for s in client.get("/sessions")["items"]}
    if after is None:
        items = client.get("/events", session=session, limit=limit, newest=1,
                           kind=kind)["items"]
    else:
        items = client.get("/events", session=session, after=after, limit=limit,
                           kind=kind)["items"]
    if as_json and not follow:
        emit_json(items)
        return
    for e in items:
        _show(e, names, as_json)
    if not follow:
        return
    last = items[-1]["seq"] if items else after
    if last is None:
        latest = client.get("/events", limit=1, newest=1)["items"]
        last = latest[-1]["seq"] if latest else 0
    for frame in client.follow("/events/stream", after=last, on_gap=_gap, session=session,
                               kind=kind):
        if frame["kind"] in ("resync", "keepalive"):
            continue
        if frame["kind"] == "spawned" or frame["session_id"] not in names:
            names[frame["session_id"] or ""] = _name_of(frame) or frame["session_id"] or "-"
        _show(frame, names, as_json)


def _name_of(frame: dict[str, object]) -> str | None:
    payload = frame.get("payload")
    name = payload.get("name") if isinstance(payload, dict) else None
    return name if isinstance(name, str) else None


def _gap(reason: str) -> None:
    sys.stderr.write(f"sm: {reason}; waiting for the daemon to come back…\n")
    sys.stderr.flush()


def _show(e: dict[str, object], names: dict[str, str], as_json: bool) -> None:
    sys.stdout.write((json.dumps(e) if as_json else format_event(e, names)) + "\n")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    command(app)(events)
