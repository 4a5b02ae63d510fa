"""spawn, list, attach, output, tail, kill, name, restore."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sm.cli.output import (
    console,
    emit_json,
    format_actions,
    format_session,
)
from sm.client import Client, quote_ref
from sm.errors import InvalidInput, NotFound

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def read_prompt(prompt: str, prompt_file: Path | None, prompt_stdin: bool) -> str:
    """The prompt from the argument, a file or stdin. Raises InvalidInput for more than
    one source, an unreadable file or bytes that are not UTF-8."""
    sources = sum(bool(x) for x in (prompt, prompt_file, prompt_stdin))
    if sources > 1:
        raise InvalidInput("give the prompt once: as an argument, --prompt-file or --prompt-stdin")
    if prompt_file is not None:
        try:
            data = prompt_file.read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read prompt file {prompt_file}: {exc.strerror}") from None
        return _decode(data, str(prompt_file))
    if prompt_stdin:
        return _decode(sys.stdin.buffer.read(), "stdin")
    return prompt


def _decode(data: bytes, where: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"prompt from {where} is not valid UTF-8 (byte {data[exc.start]:#04x} at offset "
            f"{exc.start})"
        ) from None
    if not text.strip():
        raise InvalidInput(f"prompt from {where} is empty")
    return text


def spawn(
    provider: Annotated[str, typer.Argument(help="claude | codex | shell | scripted")],
    args: Annotated[list[str] | None, typer.Argument(
        help="The prompt; for shell, the command line after --.")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n")] = None,
    cwd: Annotated[Path | None, typer.Option("--cwd")] = None,
    model: Annotated[str | None, typer.Option("--model")] = None,
    permission_mode: Annotated[str | None, typer.Option("--permission-mode")] = None,
    script: Annotated[Path | None, typer.Option("--script", help="scripted: YAML script.")] = None,
    prompt_file: Annotated[Path | None, typer.Option("--prompt-file")] = None,
    prompt_stdin: Annotated[bool, typer.Option("--prompt-stdin")] = False,
    worktree: Annotated[bool, typer.Option(
        "--worktree", help="Start in a new git worktree of its own.")] = False,
    branch: Annotated[str | None, typer.Option(help="--worktree: branch name.")] = None,
    base: Annotated[str | None, typer.Option(help="--worktree: ref to branch from.")] = None,
    repo: Annotated[str | None, typer.Option(help="--worktree: a registered repo.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start an agent in its own tmux session."""
    words = list(args or [])
    options: dict[str, object] = {}
    prompt = ""
    if provider == "shell":
        options["command"] = words
    else:
        prompt = " ".join(words)
        if words and not prompt.strip():
            raise InvalidInput("the prompt is empty")
    prompt = read_prompt(prompt, prompt_file, prompt_stdin)
    for key, value in (("model", model), ("permission_mode", permission_mode)):
        if value:
            options[key] = value
    if script is not None:
        options["script"] = str(script.resolve())
    body = {
        "provider": provider, "prompt": prompt, "name": name,
        "cwd": str((cwd or Path.cwd()).resolve()), "options": options,
    }
    if worktree or repo:
        body["worktree"] = {"branch": branch, "base": base, "repo": repo}
    elif branch or base:
        raise InvalidInput("--branch and --base go with --worktree")
    data = Client(timeout=900.0 if worktree or repo else 60.0).post("/sessions", body)
    if as_json:
        emit_json(data)
    else:
        console().print(f"spawned [bold]{data['name'] or data['id']}[/] ({data['id']}) "
                        f"{data['provider']} — attach with: sm attach {data['name'] or data['id']}")


def attach(session: Annotated[str | None, typer.Argument()] = None) -> None:
    """Attach your terminal to a session (a menu when none is named)."""
    client = Client()
    if session is None:
        live = client.get("/sessions", live=1)["items"]
        if not live:
            raise NotFound("no live sessions to attach to")
        for i, s in enumerate(live, 1):
            console().print(f"{i:>3}. {s['name'] or '-':<16} {s['id']}  {s['state']}")
        choice = typer.prompt("attach to", default="1")
        try:
            target = live[int(choice) - 1]
        except (ValueError, IndexError):
            raise InvalidInput(f"no entry {choice!r} in the menu") from None
    else:
        target = client.get(f"/sessions/{quote_ref(session)}")
    health = client.get("/health")
    env = {k: v for k, v in os.environ.items() if k != "TMUX"}
    os.execvpe("tmux", ["tmux", "-L", health["tmux_socket"], "attach-session", "-t",
                        f"={target['tmux_session']}"], env)


def output(
    session: str,
    lines: Annotated[int, typer.Option("-n", "--lines")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The session's recent screen output."""
    data = Client().get(f"/sessions/{quote_ref(session)}/output", lines=lines)
    if as_json:
        emit_json(data)
    else:
        sys.stdout.write(data["output"] + "\n")


def tail(
    session: str,
    limit: Annotated[int, typer.Option("-n", "--limit")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The session's recent tool actions, from its hooks."""
    data = Client().get(f"/sessions/{quote_ref(session)}/tail", limit=limit)
    if as_json:
        emit_json(data["items"])
    else:
        sys.stdout.write(format_actions(data["items"]) + "\n")


def kill(session: str, as_json: JsonOpt = False) -> None:
    """Kill the agent's tmux session; the record stays as stopped."""
    data = Client().post(f"/sessions/{quote_ref(session)}/kill")
    emit_json(data) if as_json else console().print(f"{data['name'] or data['id']} stopped")


def name(
    first: Annotated[str, typer.Argument(metavar="[SESSION] NAME")],
    second: Annotated[str | None, typer.Argument(show_default=False, metavar="")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Name a session (your own when only NAME is given)."""
    client = Client()
    if second is None:
        if not client.token:
            raise InvalidInput("name which session: sm name SESSION NAME")
        ref, new = client.session_id, first
    else:
        ref, new = first, second
    data = client.post(f"/sessions/{quote_ref(ref)}/name", {"name": new})
    emit_json(data) if as_json else console().print(f"{data['id']} is now {data['name']}")


def restore(session: str, as_json: JsonOpt = False) -> None:
    """Relaunch a dead or stopped agent, resuming its own conversation."""
    data = Client().post(f"/sessions/{quote_ref(session)}/restore")
    emit_json(data) if as_json else console().print(
        f"{data['name'] or data['id']} restored (conversation {data['conversation_id']})")


def show(session: str, as_json: JsonOpt = False) -> None:
    """Everything sm knows about one session."""
    client = Client()
    data = client.get(f"/sessions/{quote_ref(session)}")
    if as_json:
        emit_json(data)
        return
    parent = client.get(f"/sessions/{data['parent_id']}") if data.get("parent_id") else None
    children = client.get("/sessions", parent=data["id"])["items"]
    console().print(format_session({**data, "parent": parent, "children": children}),
                    highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command()(spawn)
    for command in (attach, output, tail, kill, name, restore, show):
        app.command()(command)
