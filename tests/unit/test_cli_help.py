"""One help style and one error style for every command, typer and argparse alike: every
command and option has help text, every ``--help`` fits 80 columns in sm's one layout,
and a usage error is one line on stderr."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from sm.cli import fast
from sm.cli.app import ALIASES, SECTIONS, build
from sm.cli.main import FAST, main


def _typer_commands() -> Iterator[tuple[list[str], Any]]:
    """Every typer command and group, with its path (``["worktree", "list"]``)."""
    group = typer.main.get_command(build())
    stack: list[tuple[list[str], Any]] = [([], group)]
    while stack:
        path, cmd = stack.pop()
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            if name not in FAST:  # the fast path's placeholders: checked through argparse
                stack.append(([*path, name], sub))


def _fast_parser(name: str) -> argparse.ArgumentParser:
    parser = fast._parser(name)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    result: argparse.ArgumentParser = sub.choices[name]
    return result


ALL_PATHS = sorted([p for p, _ in _typer_commands() if p] + [[n] for n in FAST])


def test_every_typer_command_and_option_has_help() -> None:
    missing = []
    for path, cmd in _typer_commands():
        if not (cmd.help or "").strip():
            missing.append(" ".join(path) or "sm")
        for param in cmd.params:
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{' '.join(path)} {param.name}")
    assert not missing, missing


def test_every_fast_command_and_option_has_help() -> None:
    missing = []
    for name in sorted(FAST):
        parser = _fast_parser(name)
        if not (parser.description or "").strip():
            missing.append(name)
        missing += [f"{name} {a.dest}" for a in parser._actions
                    if not (a.help or "").strip()]
    assert not missing, missing


@pytest.mark.parametrize("path", ALL_PATHS, ids=" ".join)
def test_help_fits_80_columns_in_the_one_layout(
    path: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # wider terminals still get 80 columns
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"Usage: sm {' '.join(path)}"), out
    assert max(len(line) for line in lines) <= 80, out
    assert "Options:" in out and "-h, --help  " in out.replace("  ", "  ")
    for junk in ("<bool>", "<str>", "╭", "│", "[required]"):
        assert junk not in out, (junk, out)
    assert "{" not in lines[0]


def test_root_help_lists_every_command_in_a_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Other commands" not in out
    listed = {n for names in SECTIONS.values() for n in names}
    group = typer.main.get_command(build())
    visible = {n for n, c in group.commands.items() if not c.hidden}  # type: ignore[attr-defined]
    assert visible - set(ALIASES) == listed


BAD = [
    (["spawn"], "sm: missing argument 'PROVIDER' (see: sm spawn --help)"),
    (["spawn", "scripted", "--bogus"], None),
    (["output", "x", "-n", "many"], None),
    (["daemon", "stop", "--timeout"], "sm: option '--timeout' requires an argument "
                                      "(see: sm daemon stop --help)"),
    (["nope"], None),
    (["send"], "sm: the following arguments are required: TARGET, TEXT (see: sm send --help)"),
    (["messages", "-n", "x"], None),
    (["lock", "--ttl"], None),
    (["wait", "--bogus", "x"], None),
]


@pytest.mark.parametrize(("argv", "expected"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_usage_errors_are_one_line(
    argv: list[str], expected: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sm: "), out.err
    assert lines[0].endswith("--help)"), out.err
    assert out.out == ""
    if expected:
        assert lines[0] == expected


def test_bare_sm_and_a_bare_group_print_their_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out.startswith("Usage: sm [OPTIONS] COMMAND [ARGS]...")
    assert main(["worktree"]) == 0
    assert capsys.readouterr().out.startswith("Usage: sm worktree [OPTIONS] COMMAND")


def test_name_shows_a_sane_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["name", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: sm name [OPTIONS] [SESSION] NAME\n")
    assert "second" not in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import sm

    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"sm {sm.__version__}\n"
