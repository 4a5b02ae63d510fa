"""sm usage [SESSION] [--since] [--by model|session|day] [--json]."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sm.cli.output import console, context_text, cost_text, emit_json
from sm.client import Client
from sm.errors import InvalidInput

if TYPE_CHECKING:
    from rich.table import Table

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
    session: Annotated[str | None, typer.Argument(help="A session; default: all.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="30m, 2h, 7d, today, or an ISO date/time.")] = None,
    by: Annotated[str | None, typer.Option(
        "--by", help="Lines per model, session or day (UTC).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tokens and cost, read from the agents' own records (transcripts, rollouts)."""
    query: dict[str, Any] = {"session": session, "by": by}
    if since is not None:
        query["since"] = parse_since(since)
    report = Client().get("/usage", **query)
    if as_json:
        emit_json(report)
        return
    console().print(format_usage(report))
    for line in format_usage_notes(report):
        console().print(line)


_COLUMNS = (("RESPONSES", "responses"), ("INPUT", "input_tokens"),
            ("CACHE WRITE", "cache_creation_input_tokens"),
            ("CACHE READ", "cache_read_input_tokens"), ("OUTPUT", "output_tokens"))


def format_usage(report: dict[str, Any]) -> Table:
    """The lines (per ``by``) and the total, side requests apart."""
    from rich.table import Table

    by = report.get("by")
    table = Table(box=None, pad_edge=False)
    table.add_column((by or "").upper() or "USAGE", no_wrap=True, overflow="ellipsis")
    for title, _ in _COLUMNS:
        table.add_column(title, justify="right", no_wrap=True)
    table.add_column("COST", justify="right", no_wrap=True)
    labels = report.get("labels") or {}
    for line in report.get("groups") or []:
        key = line["key"] or "-"
        table.add_row(f"{labels[key]} ({key})" if key in labels else key, *_cells(line))
    table.add_row("[bold]total[/]", *_cells(report["total"]))
    side = report.get("side")
    if side is not None:
        table.add_row("side requests", *_cells(side["total"]))
    return table


def format_usage_notes(report: dict[str, Any]) -> list[str]:
    notes = []
    ctx = report.get("context")
    if ctx:
        notes.append(f"context: {ctx['tokens']:,} tokens"
                     + (f" of {ctx['window']:,} ({ctx['percent']}%)" if ctx.get("window") else "")
                     + f" · {ctx['model']}")
    unpriced = report["total"].get("unpriced_models") or []
    if unpriced:
        notes.append(f"no price for {', '.join(unpriced)}: its tokens are counted, its cost "
                     "is not (usage.prices in config.yaml)")
    if report.get("side") is None:
        notes.append("side requests (titles, …): not counted (usage.telemetry is off)")
    errors = report.get("errors") or {}
    if report.get("skipped_lines") or errors:
        counted = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(errors.items()))
        notes.append(f"{report.get('skipped_lines', 0)} malformed record lines skipped"
                     + (f"; errors: {counted}" if counted else ""))
    notes.append(f"prices as of {report['prices_as_of']}; costs exclude discounts and "
                 "long-prompt rates")
    return notes


def _cells(line: dict[str, Any]) -> list[str]:
    return [f"{line[key]:,}" for _, key in _COLUMNS] + [
        cost_text(line["cost_micros"], line.get("unpriced_models"))]


def register(app: typer.Typer) -> None:
    app.command()(usage)


__all__ = ["format_usage", "format_usage_notes", "parse_since", "register", "context_text"]
