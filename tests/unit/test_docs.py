"""Reference docs that can drift are checked against the code."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sm import config
from sm.cli.main import FAST, FAST_SUB
from sm.errors import ERRORS

ROOT = Path(__file__).resolve().parents[2]


def test_config_example_documents_every_key_with_its_default():
    example = yaml.safe_load((ROOT / "config.yaml.example").read_text())
    flat = {}
    for section, value in example.items():
        if isinstance(value, dict):
            flat.update({f"{section}.{k}": v for k, v in value.items()})
        else:
            flat[section] = value
    known = config.defaults()
    assert set(flat) == set(known), (set(known) - set(flat), set(flat) - set(known))
    for key, default in known.items():
        value = flat[key]
        if isinstance(default, tuple):
            value = tuple(value or ())
        assert value == default, f"{key}: example says {value!r}, code says {default!r}"


def test_config_reference_mentions_every_key():
    text = (ROOT / "docs" / "config.md").read_text()
    missing = [k for k in config.defaults() if f"`{k}`" not in text]
    assert not missing, missing


def test_cli_reference_mentions_every_command():
    from typer.main import get_command

    from sm.cli.app import build

    group = get_command(build())
    names = set(group.commands) | set(FAST)  # type: ignore[attr-defined]
    text = (ROOT / "docs" / "cli.md").read_text()
    missing = sorted(n for n in names if not re.search(rf"`sm {re.escape(n)}\b", text))
    assert not missing, missing


def test_protocol_doc_lists_every_error_code():
    text = (ROOT / "docs" / "protocol.md").read_text()
    missing = [code for code in ERRORS if f"`{code}`" not in text]
    assert not missing, missing


def test_protocol_doc_lists_every_route():
    from sm.config import load
    from sm.daemon.app import create_app

    app = create_app(load(environ={"SM_HOME": str(ROOT / ".no-such-home")}))
    text = (ROOT / "docs" / "protocol.md").read_text()
    routes = [f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops]
    assert len(routes) > 40
    missing = sorted(r for r in routes if f"`{r}`" not in text)
    assert not missing, missing


# -- the CLI as the docs show it ---------------------------------------------------------------
# commands without --json, and why (docs/cli.md names them)
NO_JSON = {"attach": "hands over the terminal", "demo": "a live view", "watch": "a live view",
           "completion": "prints a script", "daemon run": "serves in the foreground",
           "mcp": "speaks MCP on stdin/stdout"}


def _commands() -> dict[str, tuple[set[str], bool]]:
    """Every command path (``"worktree list"``) → (its options, whether it takes any
    ``--OPTION``: dispatch passes role parameters through)."""
    import argparse

    import typer

    from sm.cli import fast
    from sm.cli.app import ALIASES, build

    out: dict[str, tuple[set[str], bool]] = {}
    stack = [("", typer.main.get_command(build()))]
    while stack:
        path, cmd = stack.pop()
        for name, sub in getattr(cmd, "commands", {}).items():
            full = f"{path} {name}".strip()
            if name in FAST and not path:
                continue
            if hasattr(sub, "commands"):
                stack.append((full, sub))
            else:
                opts = {o for p in sub.params for o in (*p.opts, *p.secondary_opts)
                        if p.param_type_name == "option"}
                out[full] = (opts | {"-h", "--help"}, False)
    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        return next((a.choices for a in parser._actions
                     if isinstance(a, argparse._SubParsersAction)), {})

    for name in [*FAST, *FAST_SUB]:
        sub = subcommands(fast._parser(name))[name]
        nested = subcommands(sub)  # sm note write, sm job done: commands of their own
        if name in FAST_SUB:
            nested = {k: v for k, v in nested.items() if k in FAST_SUB[name]}
        for action, parser in nested.items():
            out[f"{name} {action}"] = ({o for a in parser._actions for o in a.option_strings},
                                       False)
        if not nested:
            out[name] = ({o for a in sub._actions for o in a.option_strings}, name == "dispatch")
    for alias, target in ALIASES.items():
        out.setdefault(alias, out[target])
    return out


def test_json_on_every_command_but_the_documented_few() -> None:
    commands = _commands()
    without = sorted(c for c, (opts, _) in commands.items() if "--json" not in opts)
    assert without == sorted(NO_JSON), without
    text = " ".join((ROOT / "docs" / "cli.md").read_text().split())
    intro = text.split("## Sessions")[0]
    for command in NO_JSON:
        assert f"`sm {command}`" in intro, command


def _examples() -> list[tuple[str, str]]:
    """``(file, line)`` for every line of a fenced code block that runs ``sm``."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        in_code = False
        for line in path.read_text().splitlines():
            if line.startswith("```"):
                in_code = not in_code
            elif in_code and line.strip().startswith("sm ") and \
                    not line.split()[1].endswith(":"):  # "sm guard: …" is output
                found.append((path.name, line.strip()))
    return found


def test_every_sm_example_in_the_docs_is_a_real_command_with_real_options() -> None:
    import shlex

    commands = _commands()
    bad = []
    for where, line in _examples():
        try:
            # a continued line (ending in a backslash) is checked as far as it goes
            words = shlex.split(line.replace("…", "").rstrip().removesuffix("\\"),
                                comments=True)
        except ValueError:
            words = line.split("#")[0].split()
        words = words[1:]
        path = next((" ".join(words[:n]) for n in (3, 2, 1) if " ".join(words[:n]) in commands),
                    None)
        if path is None:
            bad.append((where, line, "no such command"))
            continue
        options, passes_through = commands[path]
        for word in words[len(path.split()):]:
            if word == "--" or word in ("|", "&&", ";"):
                break
            flag = word.split("=")[0]
            if flag.startswith("-") and flag not in options and not passes_through \
                    and not flag[1:].isdigit():
                bad.append((where, line, flag))
    assert not bad, "\n".join(map(str, bad))
