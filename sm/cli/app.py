"""The typer app for the human surface. Commands live one module per group."""

from __future__ import annotations

from typing import Annotated

import typer

from sm.cli import (
    budget,
    completion,
    costs,
    daemon,
    demo,
    events,
    inbox,
    jobs,
    kb,
    mcp,
    repo,
    sessions,
    watch,
    web,
    worktree,
)
from sm.cli.typer_help import SmGroup, command
from sm.cli.typer_help import run as run_group

# how ``sm --help`` lists the commands
SECTIONS = {
    "Sessions": ["spawn", "list", "status", "me", "show", "attach", "output", "tail", "kill",
                 "name", "restore", "forget", "prune", "approve", "deny", "events", "usage",
                 "budget", "watch", "demo"],
    "Messages": ["send", "messages", "message"],
    "Coordination": ["wait", "remind", "reminders", "task-complete", "turn-complete", "clear",
                     "handoff", "dispatch", "em", "children", "alone", "others"],
    "The human": ["ask", "asks", "answer", "inbox"],
    "Locks, worktrees, repos": ["lock", "unlock", "locks", "guard", "worktree", "conflicts",
                                "pr", "repo"],
    "Jobs, notes, knowledge": ["job", "note", "kb"],
    "The daemon and the shell": ["daemon", "web", "mcp", "completion"],
}
ALIASES = {"ls": "list", "all": "list", "logs": "output"}  # listed under their command


def build() -> typer.Typer:
    app = typer.Typer(
        name="sm",
        help="sm: a session manager for swarms of AI coding agents.",
        cls=SmGroup,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback(invoke_without_command=True)
    def _main(
        version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")]
        = False,
    ) -> None:
        if version:
            import sm

            print(f"sm {sm.__version__}")
            raise typer.Exit()

    sessions.register(app)
    events.register(app)
    inbox.register(app)
    demo.register(app)
    worktree.register(app)
    repo.register(app)
    completion.register(app)
    web.register(app)
    mcp.register(app)
    watch.register(app)
    costs.register(app)
    budget.register(app)
    app.add_typer(daemon.app, name="daemon")
    app.add_typer(jobs.app, name="job")
    app.add_typer(kb.app, name="kb")
    _register_fast(app)
    return app


def fast_help() -> dict[str, str]:
    """Each fast-path command's one-line help, from its own module."""
    from sm.cli.ask import HELP as ASK_HELP
    from sm.cli.coordination import HELP as COORDINATION_HELP
    from sm.cli.fast import HELP
    from sm.cli.locks import HELP as LOCKS_HELP
    from sm.cli.notes import HELP as NOTES_HELP

    return {**HELP, **LOCKS_HELP, **COORDINATION_HELP, **ASK_HELP, **NOTES_HELP}


def _register_fast(app: typer.Typer) -> None:
    """List the stdlib fast-path commands in ``sm --help``; they never run here."""
    from sm.cli.main import FAST

    helps = fast_help()
    for name in sorted(FAST - set(ALIASES)):
        command(
            app, name, help=helps[name], add_help_option=False,
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(lambda: None)


def run(argv: list[str]) -> int:
    group = typer.main.get_command(build())
    group.sections = SECTIONS  # type: ignore[attr-defined]
    return run_group(group, argv)
