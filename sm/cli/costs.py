"""sm usage [SESSION | --job JOB | --project DIR] [--since] [--by model|session|day] [--json]."""

from __future__ import annotations

import os
import re
import sys
import time
from datetime import datetime
from typing import Annotated, Any

import typer

from sm.cli.output import emit_json
from sm.cli.typer_help import command
from sm.cli.views import format_usage, format_usage_notes
from sm.client import Client
from sm.errors import InvalidInput

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """``30m``, ``2h``, ``7d``, ``1w`` ago; ``today`` (local midnight); or an ISO date or
    time (local unless it names its zone). Raises InvalidInput otherwise."""
    now = time.time() if now is None else now
    found = _SPAN.match(text.strip())
    if found:
        return now - float(found[1]) * _SECONDS[found[2]]
    if text.strip() == "today":
        local = datetime.fromtimestamp(now)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise InvalidInput(
            f"--since {text!r}: expected a span (30m, 2h, 7d, 1w), today, or an ISO date "
            "or time (2026-12-01, 2026-12-01T09:00)") from None


def usage(
    session: Annotated[str | None, typer.Argument(
        metavar="SESSION", help="Only this session (default: all).", show_default=False)]
    = None,
    job: Annotated[str | None, typer.Option(
        "--job", metavar="JOB", help="Only the sessions this job ran in.")] = None,
    project: Annotated[str | None, typer.Option(
        "--project", metavar="DIR", help="Only the sessions started in DIR.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="30m, 2h, 7d, today, or an ISO date/time.")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", metavar="GROUP", help="A line per model, session or day (UTC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tokens and cost, read from the agents' own records (transcripts, rollouts), and
    the context window's use."""
    query: dict[str, Any] = {"session": session, "by": by, "job": job}
    if project is not None:
        query["project"] = os.path.abspath(os.path.expanduser(project))
    if since is not None:
        query["since"] = parse_since(since)
    report = Client().get("/usage", **query)
    if as_json:
        emit_json(report)
        return
    sys.stdout.write("\n".join([format_usage(report), *format_usage_notes(report)]) + "\n")


def register(app: typer.Typer) -> None:
    command(app)(usage)
