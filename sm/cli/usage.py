"""One help layout and one error line for every command, argparse and typer alike.

Stdlib only: the fast path's parser (``Parser``) renders its help through ``render``,
and so do the typer commands (``sm.cli.typer_help``). The layout::

    Usage: sm send [OPTIONS] TARGET TEXT...

      Send a message to one or more sessions.

    Arguments:
      TARGET          Session (id, prefix or name); several as a,b,c.

    Options:
      --urgent        Interrupt the running turn.
      -h, --help      Show this help and exit.

Lines never pass ``width()`` columns (at most 80). A usage error is one line on stderr,
``sm: MESSAGE (see: sm CMD --help)``, and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

MAX_WIDTH = 80
HELP_TEXT = "Show this help and exit."
_TERM_MAX = 26  # a longer option name puts its help on the next line
_AS_IS = {"sm", "sm's", "claude", "codex", "shell", "scripted", "tmux", "git", "gh", "bash",
          "zsh", "fish"}  # names that keep their case at the start of a sentence


def width() -> int:
    """The terminal's width, never more than 80 (help stays readable)."""
    from sm.cli.tables import width as terminal_width

    return max(40, min(MAX_WIDTH, terminal_width()))


def sentence(text: str) -> str:
    """``only live sessions`` → ``Only live sessions.``: every help row reads the same."""
    text = " ".join(text.split())
    if not text:
        return ""
    first = text.split(" ", 1)[0].rstrip(",.:;").lower()
    if first not in _AS_IS and not first.startswith("-"):
        text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?:…" else text + "."


def render(
    usage: str,
    description: str,
    sections: list[tuple[str, list[tuple[str, str]]]],
    cols: int | None = None,
) -> str:
    """Lay out a help page: usage, description, then titled two-column sections."""
    import textwrap  # only for help: the fast path parses without it

    cols = cols or width()
    out = textwrap.wrap(usage, cols, initial_indent="Usage: ", subsequent_indent="         ",
                        break_on_hyphens=False, break_long_words=False)
    for para in description.strip().split("\n\n"):
        if para.strip():
            out.append("")
            out += textwrap.wrap(" ".join(para.split()), cols, initial_indent="  ",
                                 subsequent_indent="  ")
    for title, rows in sections:
        if not rows:
            continue
        out += ["", f"{title}:"]
        term_width = min(_TERM_MAX, max(len(term) for term, _ in rows)) + 2
        for term, text in rows:
            indent = " " * (2 + term_width)
            lines = textwrap.wrap(text, max(20, cols - len(indent)), break_on_hyphens=False)
            if not lines:
                out.append(f"  {term}")
            elif len(term) + 2 > term_width:
                out.append(f"  {term}")
                out += [indent + line for line in lines]
            else:
                out.append(f"  {term:<{term_width}}{lines[0]}")
                out += [indent + line for line in lines[1:]]
    return "\n".join(out) + "\n"


def print_usage_error(message: str, command: str) -> None:
    """The one-line usage error: ``sm: MESSAGE (see: COMMAND --help)`` on stderr."""
    message = " ".join(message.split()).rstrip(".")
    message = message[:1].lower() + message[1:] if message[1:2].islower() else message
    sys.stderr.write(f"sm: {message} (see: {command} --help)\n")


# -- argparse --------------------------------------------------------------------------------
def _metavar(action: argparse.Action) -> str:
    if isinstance(action.metavar, str):
        return action.metavar
    return str(action.dest).upper().replace("_", "-")


def _positional(action: argparse.Action) -> str:
    name = _metavar(action)
    if " " in name:  # a spelled-out form such as "[cancel] ID"
        return name
    if action.nargs in ("+", argparse.REMAINDER):
        name += "..."
    elif action.nargs == "*":
        name = f"[{name}...]"
    elif action.nargs == "?":
        name = f"[{name}]"
    return name


def _option(action: argparse.Action) -> str:
    term = ", ".join(action.option_strings)
    return term if action.nargs == 0 else f"{term} {_metavar(action)}"


class Parser(argparse.ArgumentParser):
    """argparse with sm's help layout and one-line errors (subparsers inherit it)."""

    def format_usage(self) -> str:
        return "Usage: " + self._usage_line() + "\n"

    def _usage_line(self) -> str:
        actions = [a for a in self._actions if not isinstance(a, argparse._SubParsersAction)]
        has_options = any(a.option_strings and not isinstance(a, argparse._HelpAction)
                          for a in actions)
        pieces = [self.prog] + (["[OPTIONS]"] if has_options else [])
        pieces += [_positional(a) for a in actions if not a.option_strings]
        for a in self._actions:
            if isinstance(a, argparse._SubParsersAction):
                pieces.append("COMMAND [ARGS]...")
        return " ".join(pieces)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        action = super().add_argument(*args, **kwargs)
        if not action.option_strings and action.metavar is None:
            action.metavar = str(action.dest).upper()  # named so in usage errors too
        return action

    def format_help(self) -> str:
        arguments, options = [], []
        for a in self._actions:
            if isinstance(a, argparse._SubParsersAction) or a.help == argparse.SUPPRESS:
                continue
            if isinstance(a, argparse._HelpAction):
                continue
            if a.option_strings:
                options.append((_option(a), sentence(a.help or "")))
            else:
                arguments.append((_metavar(a), sentence(a.help or "")))
        options.append(("-h, --help", HELP_TEXT))
        return render(self._usage_line(), self.description or "",
                      [("Arguments", arguments), ("Options", options)])

    def error(self, message: str) -> NoReturn:
        print_usage_error(message, self.prog)
        raise SystemExit(2)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)

