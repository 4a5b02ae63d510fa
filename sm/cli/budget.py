"""sm budget set|list|rm: limits on what sessions spend, per session, project and day."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from sm.cli.output import emit_json
from sm.cli.typer_help import JSON_HELP, command, group
from sm.client import Client
from sm.errors import InvalidInput

app = group("Budgets: what a session, a project or a day may spend ($1.50 or micro-dollars).")
JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
DayOpt = Annotated[bool, typer.Option("--day", help="The day's budget (all sessions, UTC).")]
ProjectOpt = Annotated[str | None, typer.Option(
    "--project", metavar="DIR", help="The budget of the sessions working in DIR.")]


def budget_ref(words: list[str], day: bool, project: str | None, *, amount: bool
               ) -> dict[str, Any]:
    """The request body for ``[SESSION] [AMOUNT]`` with ``--day`` or ``--project``.
    Raises InvalidInput for a wrong number of words."""
    want = (1 if amount else 0) + (0 if day or project else 1)
    shape = ("" if day or project else "SESSION ") + ("AMOUNT" if amount else "")
    if day and project:
        raise InvalidInput("--day and --project: expected one of them, not both")
    if len(words) != want:
        raise InvalidInput(f"expected {shape.strip() or 'no arguments'} "
                           f"(got {len(words)} argument{'s' * (len(words) != 1)})")
    body: dict[str, Any] = {"scope": "day" if day else "project" if project else "session",
                            "target": "" if day else os.path.abspath(os.path.expanduser(
                                project)) if project else words[0]}
    if amount:
        body["amount"] = words[-1]
    return body


def dollars(micros: int) -> str:
    usd = micros / 1_000_000
    return f"${usd:,.2f}" if usd >= 1 or micros % 10_000 == 0 else f"${usd:.6f}".rstrip("0")


def format_budget(s: dict[str, Any]) -> str:
    """One line: the budget, its limit, what was spent, the level reached."""
    what = {"session": f"session {s['label'] or s['key']}", "project": f"project {s['key']}",
            "day": f"day {s['period']}"}[s["scope"]]
    if s["default"]:
        what += " (default)"
    level = {"warn": "  warning", "exceeded": "  REACHED"}.get(s["level"], "")
    return (f"{what:<40} {dollars(s['spent_micros']):>12} of {dollars(s['limit_micros']):<10}"
            f" {s['percent']:>6.1f}%{level}")


@command(app, "set")
def set_budget(
    words: Annotated[list[str], typer.Argument(
        metavar="[SESSION] AMOUNT", help="A session (not with --day/--project) and the "
        "amount: $1.50 or micro-dollars.", show_default=False)],
    day: DayOpt = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set, raise or lower a budget. Raising one past what was spent resumes the
    deliveries it held."""
    data = Client().post("/budgets", budget_ref(words, day, project, amount=True))
    emit_json(data) if as_json else sys.stdout.write(format_budget(data) + "\n")


@command(app, "list")
def list_budgets(as_json: JsonOpt = False) -> None:
    """Every budget in force with what was spent against it."""
    data = Client().get("/budgets")
    if as_json:
        emit_json(data)
        return
    lines = [format_budget(s) for s in data["items"]] or [
        "no budgets — set one: sm budget set SESSION|--day|--project DIR AMOUNT"]
    lines.append(f"at 100 %: {data['action']}; warning at {data['warn_at']:.0%}"
                 if data["warn_at"] else f"at 100 %: {data['action']}; no warning")
    sys.stdout.write("\n".join(lines) + "\n")


@command(app, "rm")
def remove_budget(
    words: Annotated[list[str] | None, typer.Argument(
        metavar="[SESSION]", help="A session (not with --day/--project).",
        show_default=False)] = None,
    day: DayOpt = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a budget that was set (its config default, if any, is in force again)."""
    data = Client().post("/budgets/remove", budget_ref(words or [], day, project,
                                                        amount=False))
    if as_json:
        emit_json(data)
        return
    line = "removed" + (f"; the default applies: {format_budget(data['default'])}"
                        if data["default"] else "")
    sys.stdout.write(line + "\n")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="budget")
