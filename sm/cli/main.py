"""Entry point. Agent-facing commands never import typer, rich or httpx."""

from __future__ import annotations

import sys

# commands agents call many times a turn: argparse + the raw-socket client only
FAST = frozenset({"me", "status", "list", "ls", "all", "send", "messages", "message",
                  "lock", "unlock", "locks",
                  "wait", "remind", "reminders", "task-complete", "turn-complete", "clear",
                  "handoff", "dispatch", "em", "children", "alone", "others",
                  "ask", "asks", "answer", "note"})
# agent-facing subcommands of human command groups (sm job done, sm kb learn)
FAST_SUB = {"job": frozenset({"done"}), "kb": frozenset({"learn"})}


def _daemon_config(rest: list[str]) -> tuple[bool, str | None]:
    """For ``sm daemon run [--config FILE]``: (True, the file or None for the default);
    (False, None) for anything else, which typer answers (help, a usage error)."""
    if not rest:
        return True, None
    if len(rest) == 2 and rest[0] == "--config":
        return True, rest[1]
    if len(rest) == 1 and rest[0].startswith("--config="):
        return True, rest[0].removeprefix("--config=")
    return False, None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from sm.errors import SmError

    try:
        if args and args[0] == "send":
            from sm.cli import quick_send

            code = quick_send.run(args[1:])
            if code is not None:
                return code
        if args and args[0] in ("me", "status"):
            from sm.cli import quick_me

            code = quick_me.run(args)
            if code is not None:
                return code
        if args == ["mcp"]:  # an agent's CLI starts it: the stdlib relay, no typer
            from sm.cli import mcp_relay

            return mcp_relay.run()
        if args and (args[0] in FAST or (len(args) > 1 and args[1] in FAST_SUB.get(args[0], ()))):
            from sm.cli import fast

            return fast.run(args)
        if args[:2] == ["daemon", "run"]:
            plain, config = _daemon_config(args[2:])
            if plain:  # no typer: the daemon keeps none of the CLI in its memory
                from pathlib import Path

                from sm.daemon import server

                server.serve(Path(config) if config else None)
                return 0
        if args and args[0] == "__complete":
            from sm.cli.completion import complete

            return complete(args[1:])
        from sm.cli.app import run

        return run(args)
    except SmError as exc:
        print(f"sm: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
