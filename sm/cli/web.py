"""sm web [--open] [--token]: the dashboard's one-time login URL."""

from __future__ import annotations

from typing import Annotated

import typer

from sm.cli.output import console, emit_json
from sm.cli.typer_help import JSON_HELP, command
from sm.client import Client


def web(
    open_: Annotated[bool, typer.Option("--open", help="Open it in a browser too.")] = False,
    token: Annotated[bool, typer.Option(
        "--token", help="Print a bearer token for the dashboard's API instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Start the web dashboard (when it is off) and print a one-time login URL."""
    client = Client()
    data = client.post("/web/token" if token else "/web/login")
    if as_json:
        emit_json(data)
        return
    if token:
        console().print(f"{data['url']}  Authorization: Bearer {data['token']}", soft_wrap=True)
        return
    console().print(data["login_url"], soft_wrap=True, highlight=False)
    console().print(f"[dim]one-time login, valid {data['expires_in']:.0f}s; dashboard at "
                    f"{data['url']}[/]", highlight=False)
    if open_:
        import webbrowser

        webbrowser.open(data["login_url"])


def register(app: typer.Typer) -> None:
    command(app)(web)
