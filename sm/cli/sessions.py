"""spawn, show, output (alias logs), tail, kill, name, restore, approve, deny."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from sm.cli.output import console, emit_json, format_actions, progress
from sm.cli.typer_help import JSON_HELP, command
from sm.client import Client, quote_ref
from sm.errors import InvalidInput, SmError

JsonOpt = Annotated[bool, typer.Option("--json", help=JSON_HELP)]
SessionArg = Annotated[str, typer.Argument(metavar="SESSION", help="Id, unique id prefix or name.")]


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
    provider: Annotated[str, typer.Argument(help="claude, codex, shell or scripted.")],
    args: Annotated[list[str] | None, typer.Argument(
        metavar="PROMPT", help="The first prompt; for shell, the command line after --.",
        show_default=False)] = None,
    name: Annotated[str | None, typer.Option(
        "--name", "-n", help="A unique name to address it by.")] = None,
    cwd: Annotated[Path | None, typer.Option(
        "--cwd", metavar="DIR", help="Its working directory (default: here).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", help="claude and codex: the model to run.")] = None,
    permission_mode: Annotated[str | None, typer.Option(
        "--permission-mode", metavar="MODE",
        help="claude: default, acceptEdits, plan or bypassPermissions; codex: its "
             "approval policy.")] = None,
    script: Annotated[Path | None, typer.Option(
        "--script", metavar="FILE", help="scripted: the YAML script to play.")] = None,
    prompt_file: Annotated[Path | None, typer.Option(
        "--prompt-file", metavar="FILE", help="Read the first prompt from FILE.")] = None,
    prompt_stdin: Annotated[bool, typer.Option(
        "--prompt-stdin", help="Read the first prompt from stdin.")] = False,
    worktree: Annotated[bool, typer.Option(
        "--worktree", help="Start in a new git worktree of its own.")] = False,
    branch: Annotated[str | None, typer.Option(help="--worktree: branch name.")] = None,
    base: Annotated[str | None, typer.Option(
        metavar="REF", help="--worktree: the ref to branch from.")] = None,
    repo: Annotated[str | None, typer.Option(
        metavar="NAME", help="--worktree: a registered repo (sm repo list).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Start an agent in its own tmux session.

    A prompt is delivered as its first message. sm watches the new agent for up to 2 s
    and fails (exit 1) when it dies at once."""
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
    client = Client(timeout=900.0 if worktree or repo else 60.0)
    what = ("creating its worktree (and running the setup command)" if worktree or repo
            else f"starting {provider}")
    with progress(what):
        data = client.post("/sessions", body)
    with progress(f"watching {data['name'] or data['id']} start"):
        data = settle(client, data)
    if as_json:
        emit_json(data)
        return
    label = data["name"] or data["id"]
    if data.get("launch_hold") and data["state"] == "starting":
        console().print(f"spawned [bold]{label}[/] ({data['id']}) {data['provider']}, "
                        f"held: {data['launch_hold']['reason']} — it launches "
                        f"then; its prompt waits for it")
        return
    console().print(f"spawned [bold]{label}[/] ({data['id']}) {data['provider']}, "
                    f"{data['state']} — attach with: sm attach {label}")


SETTLE = 2.0  # seconds spawn watches a new agent for a death at start


def settle(client: Client, rec: dict[str, Any], timeout: float = SETTLE) -> dict[str, Any]:
    """Watch a new session until it leaves ``starting`` or ``timeout`` passes, and return
    its record. Raises SmError (exit 1) when it died at once with an error, naming the
    last line its pane showed."""
    deadline = time.monotonic() + timeout
    # a held spawn (its provider is rate limited, its launches paced) returns at once
    while rec["state"] == "starting" and not rec.get("launch_hold") \
            and time.monotonic() < deadline:
        time.sleep(0.1)
        rec = client.get(f"/sessions/{quote_ref(rec['id'])}")
    if rec["state"] != "error":
        return rec
    label = rec["name"] or rec["id"]
    status = f", exit status {rec['exit_status']}" if rec.get("exit_status") is not None else ""
    try:
        screen = client.get(f"/sessions/{quote_ref(rec['id'])}/output", lines=500)["output"]
    except SmError:
        screen = ""
    said = [line.strip() for line in screen.splitlines()
            if line.strip() and not line.startswith("Pane is dead")]
    reason = f": {said[-1][:160]}" if said else ""
    raise SmError(f"{label} failed at once (error{status}){reason} — see: sm output {label}")


def output(
    session: SessionArg,
    lines: Annotated[int, typer.Option("-n", "--lines", metavar="N",
                                       help="How many lines of screen and history.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """The session's recent screen output (alias: logs)."""
    data = Client().get(f"/sessions/{quote_ref(session)}/output", lines=lines)
    if as_json:
        emit_json(data)
    else:
        sys.stdout.write(data["output"] + "\n")


def tail(
    session: SessionArg,
    limit: Annotated[int, typer.Option("-n", "--limit", metavar="N",
                                       help="How many tool actions.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """The session's recent tool actions, from its hooks."""
    data = Client().get(f"/sessions/{quote_ref(session)}/tail", limit=limit)
    if as_json:
        emit_json(data["items"])
    else:
        sys.stdout.write(format_actions(data["items"]) + "\n")


def kill(
    sessions: Annotated[list[str] | None, typer.Argument(
        metavar="SESSION", help="The sessions to stop.", show_default=False)] = None,
    everyone: Annotated[bool, typer.Option("--all", help="Every live session.")] = False,
    tree: Annotated[bool, typer.Option(
        "--tree", help="Each SESSION with all its descendants, children first.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Stop agents: kill their tmux sessions; the records stay as stopped."""
    from sm.cli.fast import all_sessions

    client = Client()
    if not sessions and not everyone:
        raise InvalidInput("name the sessions to kill, or --all")
    known = all_sessions(client)
    targets = plan_kill(known, [client.get(f"/sessions/{quote_ref(ref)}")["id"]
                                for ref in sessions or []], everyone, tree)
    done, failed = [], 0
    for i, sid in enumerate(targets, 1):
        try:
            rec = client.post(f"/sessions/{quote_ref(sid)}/kill")
        except SmError as exc:
            print(f"sm: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        done.append(rec)
        if not as_json:
            count = f" ({i}/{len(targets)})" if len(targets) > 1 else ""
            console().print(f"{rec['name'] or rec['id']} stopped{count}")
    if as_json:
        single = len(sessions or []) == 1 and not (everyone or tree)
        emit_json(done[0] if single and done else done)
    elif not targets:
        console().print("no live sessions to kill")
    if failed:
        raise typer.Exit(1)


def plan_kill(
    sessions: list[dict[str, Any]], named: list[str], everyone: bool, tree: bool
) -> list[str]:
    """The ids to kill, in order: with ``everyone`` every live session; with ``tree`` each
    named one's live descendants too. Deepest first, so no orchestrator outlives its
    workers; a named session is always included (killing a stopped one is harmless)."""
    by_id = {s["id"]: s for s in sessions}
    live = {s["id"] for s in sessions if s["state"] not in ("exited", "error", "stopped")}

    def depth(sid: str) -> int:
        d, parent = 0, by_id.get(sid, {}).get("parent_id")
        while parent and d < 1000:
            d, parent = d + 1, by_id.get(parent, {}).get("parent_id")
        return d

    chosen = set(named) | (live if everyone else set())
    if tree:
        children: dict[str, list[str]] = {}
        for s in sessions:
            if s.get("parent_id"):
                children.setdefault(s["parent_id"], []).append(s["id"])
        stack = list(named)
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in chosen and child in live:
                    chosen.add(child)
                    stack.append(child)
    order = {sid: i for i, sid in enumerate(named)}
    return sorted(chosen, key=lambda sid: (-depth(sid), order.get(sid, len(order)), sid))


def name(
    words: Annotated[list[str], typer.Argument(
        metavar="[SESSION] NAME", help="The session (default: your own) and its new name.")],
    as_json: JsonOpt = False,
) -> None:
    """Name a session (your own when only NAME is given)."""
    client = Client()
    if len(words) > 2:
        raise InvalidInput(f"sm name [SESSION] NAME takes one or two words, not {len(words)}")
    if len(words) == 1:
        if not client.token:
            raise InvalidInput("name which session: sm name SESSION NAME")
        ref, new = client.session_id, words[0]
    else:
        ref, new = words
    data = client.post(f"/sessions/{quote_ref(ref)}/name", {"name": new})
    emit_json(data) if as_json else console().print(f"{data['id']} is now {data['name']}")


def restore(session: SessionArg, as_json: JsonOpt = False) -> None:
    """Relaunch a dead or stopped agent, resuming its own conversation."""
    data = Client().post(f"/sessions/{quote_ref(session)}/restore")
    emit_json(data) if as_json else console().print(
        f"{data['name'] or data['id']} restored (conversation {data['conversation_id']})")


def forget(
    sessions: Annotated[list[str], typer.Argument(
        metavar="SESSION", help="The dead sessions to forget.", show_default=False)],
    as_json: JsonOpt = False,
) -> None:
    """Leave dead sessions out of sm list; their records, messages and events stay
    (sm status ID still shows one; sm restore brings it back)."""
    items = Client().post("/sessions/forget", {"refs": sessions})["items"]
    if as_json:
        emit_json(items)
        return
    for rec in items:
        console().print(f"{rec['name'] or rec['id']} forgotten ({rec['state']})")


def prune(
    older_than: Annotated[str | None, typer.Option(
        "--older-than", metavar="AGE",
        help="Only sessions that ended longer ago (7d, 12h); default: every dead one.",
        show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Forget every dead session (exited, error, stopped): sm list shows the live ones
    and the recent dead."""
    items = Client().post("/sessions/prune", {"older_than": older_than})["items"]
    if as_json:
        emit_json(items)
        return
    console().print(f"{len(items)} session{'s' if len(items) != 1 else ''} forgotten")


def approve(
    session: SessionArg,
    always: Annotated[bool, typer.Option(
        "--always", help="Allow it from now on (the agent's own \"always\").")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Allow what the agent's permission prompt asks (once, or --always)."""
    _answer(session, "always" if always else "allow", as_json)


def deny(session: SessionArg, as_json: JsonOpt = False) -> None:
    """Refuse what the agent's permission prompt asks."""
    _answer(session, "deny", as_json)


def _answer(session: str, decision: str, as_json: bool) -> None:
    """Press the agent's own key on its permission prompt; exit 1 when it shows none."""
    data = Client().post(f"/sessions/{quote_ref(session)}/answer", {"decision": decision})
    result = {"id": data["id"], "name": data["name"], "decision": decision}
    done = {"allow": "allowed", "always": "allowed from now on", "deny": "denied"}[decision]
    emit_json(result) if as_json else console().print(f"{data['name'] or data['id']}: {done}")


def show(session: SessionArg, as_json: JsonOpt = False) -> None:
    """Everything sm knows about one session: state, role, status, worktree, times."""
    from sm.cli.fast import all_sessions
    from sm.cli.tables import width
    from sm.cli.views import format_session, names_of

    client = Client()
    data = client.get(f"/sessions/{quote_ref(session)}")
    if as_json:
        emit_json(data)
        return
    worktree = client.get(f"/sessions/{quote_ref(data['id'])}/worktree")["worktree"]
    text = format_session(data, names_of(all_sessions(client)), worktree, cols=width())
    sys.stdout.write(text + "\n")


def register(app: typer.Typer) -> None:
    from sm.cli.attach import attach

    command(app)(spawn)
    for fn in (show, attach, output, tail, kill, name, restore, forget, prune, approve, deny):
        command(app)(fn)
    command(app, "logs", hidden=True, help="The session's recent screen output (alias of "
            "output).")(output)
