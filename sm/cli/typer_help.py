"""The typer commands in sm's one help layout (``sm.cli.usage``) with one-line errors.

Every typer command is made with ``command(app)`` (an ``SmCommand``) and every group with
``group(...)`` (an ``SmGroup``); ``run`` parses and turns click's usage errors into
``sm: MESSAGE (see: sm CMD --help)``, exit 2.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from sm.cli.usage import HELP_TEXT, print_usage_error, render, sentence

# click's exceptions module: typer vendors click in new releases and imports it in old ones
_clicks = sys.modules[typer.BadParameter.__module__]
JSON_HELP = "Print JSON."


def _summary(text: str | None) -> str:
    """The first sentence of a command's help: its line in a command list."""
    first = inspect.cleandoc(text or "").split("\n\n")[0]
    first = " ".join(first.split())
    end = first.find(". ")
    return sentence(first[: end + 1] if end != -1 else first)


def _default(param: Any) -> str:
    value = param.default
    if param.is_flag or value in (None, "", (), []) or callable(value):
        return ""
    help_text = param.help or ""
    return "" if "default" in help_text else f" (default {value:g})" if isinstance(
        value, float) else f" (default {value})"


def _argument_name(param: Any) -> str:
    name = param.metavar or str(param.name).upper()
    if " " in name:  # spelled out, e.g. "[SESSION] NAME"
        return name
    if param.nargs == -1:
        name += "..."
    return name if param.required else f"[{name}]"


def _option_term(param: Any) -> str:
    term = ", ".join(sorted(param.opts, key=len))
    if param.secondary_opts:
        term += " / " + ", ".join(param.secondary_opts)
    if not param.is_flag and not getattr(param, "count", False):
        term += " " + (param.metavar or str(param.name).upper())
    return term


def _sections(command: Any, ctx: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    arguments, options = [], []
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        text = sentence(param.help or "")
        if param.param_type_name == "argument":
            arguments.append((param.metavar or str(param.name).upper(), text))
        else:
            options.append((_option_term(param), sentence((param.help or "") + _default(param))))
    if command.add_help_option:
        options.append(("-h, --help", HELP_TEXT))
    return [("Arguments", arguments), ("Options", options)]


class SmCommand(TyperCommand):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:  # usage errors name arguments as the help does
            if param.param_type_name == "argument" and param.metavar is None:
                param.metavar = str(param.name).upper()

    def get_help(self, ctx: Any) -> str:
        pieces = [ctx.command_path]
        if any(p.param_type_name == "option" for p in self.params):
            pieces.append("[OPTIONS]")
        pieces += [_argument_name(p) for p in self.params if p.param_type_name == "argument"]
        return render(" ".join(pieces), inspect.cleandoc(self.help or ""),
                      _sections(self, ctx)).rstrip("\n")


class SmGroup(TyperGroup):
    # the root group lists its commands in these sections (set by sm.cli.app)
    sections: dict[str, list[str]] | None = None

    def get_help(self, ctx: Any) -> str:
        rows = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows[name] = _summary(cmd.help)
        if self.sections:
            groups = [(title, [(n, rows.pop(n)) for n in names if n in rows])
                      for title, names in self.sections.items()]
            groups.append(("Other commands", sorted(rows.items())))
        else:
            groups = [("Commands", list(rows.items()))]
        options = _sections(self, ctx)[1]
        return render(f"{ctx.command_path} [OPTIONS] COMMAND [ARGS]...",
                      inspect.cleandoc(self.help or ""), [*groups, options]).rstrip("\n")


def command(app: typer.Typer, name: str | None = None, **kwargs: Any) -> Callable[..., Any]:
    """``app.command`` with sm's help layout."""
    return app.command(name, cls=SmCommand, **kwargs)


def group(help: str, **kwargs: Any) -> typer.Typer:
    """A ``typer.Typer`` with sm's help layout and no rich output."""
    return typer.Typer(help=help, cls=SmGroup, no_args_is_help=True, rich_markup_mode=None,
                       add_completion=False, pretty_exceptions_enable=False, **kwargs)


def _path(group_command: Any, argv: list[str]) -> str:
    """``sm worktree list`` for argv ``["worktree", "list", "--bad"]``: the command an
    error without a context belongs to."""
    words, cmd = ["sm"], group_command
    for word in argv:
        sub = getattr(cmd, "commands", {}).get(word)
        if sub is None:
            break
        words.append(word)
        cmd = sub
    return " ".join(words)


def run(group_command: Any, argv: list[str]) -> int:
    """Parse and run; a usage error is one line on stderr and exit 2."""
    no_args = getattr(_clicks, "NoArgsIsHelpError", ())
    try:
        result = group_command.main(args=argv, prog_name="sm", standalone_mode=False)
    except no_args as exc:
        sys.stdout.write(exc.ctx.get_help() + "\n")
        return 0
    except _clicks.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else _path(group_command, argv)
        print_usage_error(exc.format_message(), path)
        return 2
    except _clicks.ClickException as exc:
        sys.stderr.write(f"sm: {exc.format_message()}\n")
        return int(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("sm: aborted\n")
        return 1
    return result if isinstance(result, int) else 0
