"""sm watch: the terminal dashboard (Textual, imported only here)."""

from __future__ import annotations

from typing import Annotated

import typer

from sm.cli.typer_help import command


def watch(
    session: Annotated[str | None, typer.Argument(
        metavar="SESSION", help="Select this session first.", show_default=False)] = None,
) -> None:
    """A live, full-screen view of every session, fed by the event stream."""
    from sm.watch.app import run

    run(select=session)


def register(app: typer.Typer) -> None:
    command(app)(watch)
