"""The typer app for the human surface. Commands live one module per group."""

from __future__ import annotations

import typer

from sm.cli import daemon, demo, events, jobs, kb, repo, sessions, worktree


def build() -> typer.Typer:
    app = typer.Typer(
        name="sm",
        help="sm: a session manager for swarms of AI coding agents.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    @app.callback(invoke_without_command=True)
    def _main(
        version: bool = typer.Option(False, "--version", help="Print the version and exit."),
    ) -> None:
        if version:
            import sm

            print(f"sm {sm.__version__}")
            raise typer.Exit()

    sessions.register(app)
    events.register(app)
    demo.register(app)
    worktree.register(app)
    repo.register(app)
    app.add_typer(daemon.app, name="daemon")
    app.add_typer(jobs.app, name="job")
    app.add_typer(kb.app, name="kb")
    _register_fast(app)
    return app


def _register_fast(app: typer.Typer) -> None:
    """List the stdlib fast-path commands in ``sm --help``; they never run here."""
    from sm.cli.main import FAST

    helps = {
        "me": "Who am I: the calling session.",
        "status": "A session's state; from a session, sm status \"TEXT\" sets your status line.",
        "list": "List sessions (alias: all).",
        "send": "Send a message (queued durably, delivered with a receipt).",
        "messages": "List messages.",
        "message": "One message, its state and reason.",
    }
    from sm.cli.locks import HELP

    helps.update(HELP)
    from sm.cli.coordination import HELP as COORDINATION_HELP

    helps.update(COORDINATION_HELP)
    from sm.cli.ask import HELP as ASK_HELP

    helps.update(ASK_HELP)
    from sm.cli.notes import HELP as NOTES_HELP

    helps.update(NOTES_HELP)
    for name in sorted(FAST - {"all"}):
        app.command(
            name, help=helps.get(name, ""), add_help_option=False,
            context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        )(lambda: None)


def run(argv: list[str]) -> int:
    try:
        build()(args=argv, prog_name="sm", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
