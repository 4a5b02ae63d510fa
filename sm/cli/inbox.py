"""sm inbox: the notes sessions wrote to the human (``sm send operator "…"``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from sm.cli.output import emit_json
from sm.cli.typer_help import JSON_HELP, command
from sm.client import Client
from sm.errors import InvalidInput


def inbox(
    words: Annotated[list[str] | None, typer.Argument(
        metavar="[ack ID…]", help="ack ID…: mark these notes read.",
        show_default=False)] = None,
    everything: Annotated[bool, typer.Option(
        "--all", help="With ack: every unread note.")] = False,
    unread: Annotated[bool, typer.Option("--unread", help="Only unread notes.")] = False,
    limit: Annotated[int, typer.Option("-n", "--limit", metavar="N",
                                       help="The newest N (default 50).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Notes sessions wrote to you, newest first (* unread); listing marks nothing."""
    from sm.cli.tables import width
    from sm.cli.views import format_inbox

    client = Client()
    words = words or []
    if words and words[0] == "ack":
        if not words[1:] and not everything:
            raise InvalidInput("name the notes to mark read: sm inbox ack ID… (or --all)")
        items = client.post("/inbox/ack", {"ids": words[1:], "all": everything})["items"]
        if as_json:
            emit_json(items)
        else:
            sys.stdout.write(f"{len(items)} note{'' if len(items) == 1 else 's'} read\n")
        return
    if words:
        raise InvalidInput(f"unexpected {words[0]!r}: sm inbox [--unread] | sm inbox ack ID…")
    if everything:
        raise InvalidInput("--all goes with ack: sm inbox ack --all")
    if limit < 1:
        raise InvalidInput(f"-n must be at least 1, not {limit}")
    items = client.get("/inbox", unread="true" if unread else None, limit=limit)["items"]
    if as_json:
        emit_json(items)
    elif not items:
        sys.stdout.write("no unread notes\n" if unread else "no notes\n")
    else:
        unread_count = sum(not n["read"] for n in items)
        sys.stdout.write(format_inbox(items, cols=width()) + "\n")
        if unread_count:
            sys.stdout.write(f"{unread_count} unread — mark read: sm inbox ack ID… | --all\n")


def register(app: typer.Typer) -> None:
    command(app)(inbox)
