"""Shell completion: ``sm completion bash|zsh|fish`` prints a script that asks
``sm __complete INDEX WORDS…`` for the candidates. One completer knows both the typer
commands and the argparse fast path, and offers session names from a running daemon
(never starting one) where a command takes a session.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from sm.cli.typer_help import command

SHELLS = ("bash", "zsh", "fish")
_SCRIPTS = {
    "bash": """# sm completion for bash: eval "$(sm completion bash)" in ~/.bashrc
_sm_complete() {
    local IFS=$'\\n'
    COMPREPLY=($(sm __complete "$COMP_CWORD" "${COMP_WORDS[@]}" 2>/dev/null))
}
complete -o default -F _sm_complete sm
""",
    "zsh": """# sm completion for zsh: eval "$(sm completion zsh)" in ~/.zshrc (after compinit)
_sm() {
    local -a reply
    reply=(${(f)"$(sm __complete $((CURRENT - 1)) "${words[@]}" 2>/dev/null)"})
    compadd -a reply
}
compdef _sm sm
""",
    "fish": """# sm completion for fish: sm completion fish > ~/.config/fish/completions/sm.fish
function __sm_complete
    set -l tokens (commandline -opc) (commandline -ct)
    sm __complete (math (count $tokens) - 1) $tokens 2>/dev/null
end
complete -c sm -f -a '(__sm_complete)'
""",
}
# commands whose positional arguments are sessions
_TAKES_SESSION = {
    "status", "send", "wait", "clear", "dispatch", "children", "show", "attach", "output",
    "logs", "tail", "kill", "name", "restore", "events", "pr",
}


def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")],
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    bash: eval "$(sm completion bash)" in ~/.bashrc; zsh: the same with zsh in ~/.zshrc;
    fish: sm completion fish > ~/.config/fish/completions/sm.fish."""
    if shell not in _SCRIPTS:
        from sm.errors import InvalidInput

        raise InvalidInput(f"no completion for shell {shell!r}; expected one of: "
                           + ", ".join(SHELLS))
    sys.stdout.write(_SCRIPTS[shell])


def complete(argv: list[str]) -> int:
    """``sm __complete INDEX WORDS…``: print the candidates for WORDS[INDEX], one a line."""
    try:
        index = int(argv[0])
    except (IndexError, ValueError):
        return 2
    words = argv[1:]
    current = words[index] if index < len(words) else ""
    found = candidates(words[1:index], current)
    sys.stdout.write("".join(f"{c}\n" for c in found if c.startswith(current)))
    return 0


def candidates(before: list[str], current: str) -> list[str]:
    """Completions of ``current`` after ``sm BEFORE…``."""
    from sm.cli.app import ALIASES, build
    from sm.cli.main import FAST

    group = typer.main.get_command(build())
    if not before:
        names = [n for n, c in group.commands.items() if not c.hidden]  # type: ignore[attr-defined]
        return sorted(set(names) | FAST | set(ALIASES))
    name = ALIASES.get(before[0], before[0])
    if name in FAST:
        options, value_options = _fast_options(name)
    else:
        cmd: Any = group.commands.get(name)  # type: ignore[attr-defined]
        rest = before[1:]
        while cmd is not None and hasattr(cmd, "commands"):
            if not rest:
                return sorted(n for n, c in cmd.commands.items() if not c.hidden)
            name, rest = rest[0], rest[1:]
            cmd = cmd.commands.get(name)
        if cmd is None:
            return []
        if cmd.name == "completion":
            return list(SHELLS)
        options, value_options = _click_options(cmd)
    if current.startswith("-"):
        return options
    if before[-1] in value_options:
        return []
    return _session_names() if before[0] in _TAKES_SESSION else []


def _fast_options(name: str) -> tuple[list[str], set[str]]:
    from sm.cli.fast import _parser

    parser = _parser(name)
    sub = next(a for a in parser._actions if a.dest == "command").choices[name]  # type: ignore[index]
    options = [o for a in sub._actions for o in a.option_strings]
    takes_value = {o for a in sub._actions if a.nargs != 0 for o in a.option_strings}
    return sorted(options), takes_value


def _click_options(cmd: Any) -> tuple[list[str], set[str]]:
    options, takes_value = ["--help"], set()
    for param in cmd.params:
        if param.param_type_name != "option" or getattr(param, "hidden", False):
            continue
        options += [*param.opts, *param.secondary_opts]
        if not param.is_flag:
            takes_value.update(param.opts)
    return sorted(options), takes_value


def _session_names() -> list[str]:
    """Names (or ids) of the sessions of a running daemon; nothing when none runs."""
    from sm.client import Client
    from sm.errors import SmError

    try:
        items = Client(timeout=2.0, autostart=False).get("/sessions", limit=1000)["items"]
    except (SmError, OSError):
        return []
    return sorted(s["name"] or s["id"] for s in items)


def register(app: typer.Typer) -> None:
    command(app)(completion)
