"""Coordination commands for agents, on the stdlib fast path (see ``fast``):
wait, remind, reminders, task-complete, turn-complete, clear, handoff, dispatch, em,
children, alone, others — and setting the status line (``sm status "TEXT"``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from sm.cli.plain import print_result
from sm.client import Client, quote_ref
from sm.errors import InvalidInput, SmError, Unavailable

TYPE_CHECKING = False  # typing costs ~1 ms per call on the agent's hot path
if TYPE_CHECKING:
    from typing import Any

HELP = {
    "wait": "Wait until a session is idle with nothing undelivered (--notify: tell me later).",
    "remind": "Remind yourself later: sm remind 5m TEXT [--recurring]; sm remind cancel ID.",
    "reminders": "Your armed reminders (every session's, for the operator).",
    "task-complete": "Tell your parent your task is done; ends your reminders.",
    "turn-complete": "Record that your turn ended.",
    "clear": "Clear a child's conversation (then send PROMPT).",
    "handoff": "At the end of this turn, clear your conversation and start over with FILE.",
    "dispatch": "Send a child a role template: sm dispatch SESSION --role ROLE --task ….",
    "em": "Become the orchestrator: nudges on your children, a periodic digest.",
    "children": "Your children (or SESSION's).",
    "alone": "Exit 0 when no other live session works in your repository.",
    "others": "Other live sessions working in your repository.",
}
_WAIT_SLICE = 30.0
_DISPATCH_FLAGS = ("--dry-run", "--no-clear", "--urgent", "--json")


def add_parsers(sub: Any) -> None:
    from sm.cli.fast import add_json

    wait = sub.add_parser("wait", help=HELP["wait"])
    wait.add_argument("target", metavar="SESSION", help="the session to wait for")
    wait.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                      help="give up after this long, exit 1 (default 600)")
    wait.add_argument("--notify", action="store_true",
                      help="return at once; get '[sm wait] NAME is idle' as a message")
    add_json(wait)
    remind = sub.add_parser("remind", help=HELP["remind"])
    remind.add_argument("words", nargs="+", metavar="DELAY TEXT | cancel ID",
                        help="when (30s, 5m, 1h) and what to remind you of; or cancel ID")
    remind.add_argument("--recurring", action="store_true", help="again every DELAY")
    add_json(remind)
    add_json(sub.add_parser("reminders", help=HELP["reminders"]))
    done = sub.add_parser("task-complete", help=HELP["task-complete"])
    done.add_argument("text", nargs="*", help="what was done, for your parent")
    add_json(done)
    add_json(sub.add_parser("turn-complete", help=HELP["turn-complete"]))
    clear = sub.add_parser("clear", help=HELP["clear"])
    clear.add_argument("--urgent", action="store_true", help="interrupt a running turn first")
    add_json(clear)
    clear.add_argument("target", metavar="SESSION", help="the child to clear")
    clear.add_argument("prompt", nargs=argparse.REMAINDER, help="sent after the clear")
    handoff = sub.add_parser("handoff", help=HELP["handoff"])
    handoff.add_argument("file", help="the new first prompt; - reads stdin")
    add_json(handoff)
    dispatch = sub.add_parser("dispatch", help=HELP["dispatch"])
    dispatch.add_argument("agent", metavar="SESSION", help="the child to send the role to")
    dispatch.add_argument("rest", nargs=argparse.REMAINDER, metavar="[--PARAM VALUE]...",
                          help="the role's parameters, e.g. --task \"…\"")
    _dispatch_options(dispatch)
    em = sub.add_parser("em", help=HELP["em"])
    em.add_argument("name", nargs="?", help="name yourself this")
    add_json(em)
    children = sub.add_parser("children", help=HELP["children"])
    children.add_argument("session", nargs="?", help="whose children (default: yours)")
    children.add_argument("--recursive", "-r", action="store_true",
                          help="grandchildren too, the whole tree")
    children.add_argument("--all", action="store_true", help="dead children too")
    add_json(children)
    add_json(sub.add_parser("alone", help=HELP["alone"]))
    add_json(sub.add_parser("others", help=HELP["others"]))


_DISPATCH_HELP = {
    "--dry-run": "print the expanded message; send nothing",
    "--no-clear": "keep the child's conversation (no clear first)",
    "--urgent": "interrupt the child's running turn",
    "--json": "print JSON",
}


def _dispatch_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--role", help="the role template: engineer, architect, scout, reviewer…")
    for flag in _DISPATCH_FLAGS:
        p.add_argument(flag, action="store_true", help=_DISPATCH_HELP[flag])


def _label(s: dict[str, Any]) -> str:
    return str(s.get("name") or s["id"])


def _ago(seconds: float) -> str:
    """``90`` → ``1m30s``."""
    hours, rest = divmod(max(0, int(round(seconds))), 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "")
    return out + (f"{secs}s" if secs or not out else "")


# -- wait ------------------------------------------------------------------------------------
def _wait(client: Client, args: argparse.Namespace) -> int:
    path = f"/sessions/{quote_ref(args.target)}/wait"
    if args.notify:
        watcher = client.post(path, {"timeout": args.timeout, "notify": True})["watcher"]
        print_result(watcher, args.json, f"watching {args.target}: you will get '[sm wait] …' as a "
                                   f"message (timeout {_ago(args.timeout)})")
        return 0
    deadline = time.monotonic() + max(0.0, args.timeout)
    client.timeout = _WAIT_SLICE + 15.0
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        try:
            data = client.post(path, {"timeout": min(remaining, _WAIT_SLICE)})
        except (Unavailable, OSError, SmError) as exc:
            # a bare SmError is an answer with no error body: a daemon cut off mid-request
            # while it stops; waiting is idempotent, so ask the next one
            gone = not isinstance(exc, SmError) or type(exc) in (SmError, Unavailable)
            if not gone or time.monotonic() >= deadline:
                raise
            time.sleep(0.5)
            continue
        s, outcome = data["session"], data["outcome"]
        if outcome == "idle":
            print_result(data, args.json, f"{_label(s)} is idle")
            return 0
        if outcome == "exited":
            print_result(data, args.json, f"{_label(s)} is {s['state']}")
            return 1
        if time.monotonic() >= deadline:
            count = data["undelivered"]
            pending = f", {count} message(s) undelivered" if count else ""
            print_result(data, args.json, f"timed out after {_ago(args.timeout)}: {_label(s)} is "
                                    f"{s['state']}{pending}")
            return 1


# -- reminders ---------------------------------------------------------------------------------
def _remind(client: Client, args: argparse.Namespace) -> int:
    words = args.words
    if words[0] == "cancel" and len(words) == 2:
        r = client.post(f"/reminders/{quote_ref(words[1])}/cancel")
        print_result(r, args.json, f"reminder {r['id']} cancelled")
        return 0
    if len(words) < 2:
        raise InvalidInput("usage: sm remind DELAY TEXT [--recurring]  |  sm remind cancel ID")
    r = client.post("/reminders", {"delay": words[0], "text": " ".join(words[1:]),
                                   "recurring": args.recurring})
    every = f", then every {_ago(r['every'])}" if r["every"] else ""
    print_result(r, args.json, f"reminder {r['id']} in {_ago(r['due_at'] - time.time())}{every}")
    return 0


def _reminders(client: Client, args: argparse.Namespace) -> int:
    items = client.get("/reminders")["items"]
    if args.json or not items:
        print_result(items, args.json, "no reminders")
        return 0
    from sm.cli.views import format_reminders, names_of

    names = None if client.token else names_of(client.get("/sessions")["items"])
    print_result(items, False, format_reminders(items, names))
    return 0


# -- reports -----------------------------------------------------------------------------------
def _task_complete(client: Client, args: argparse.Namespace) -> int:
    data = client.post("/me/task-complete", {"text": " ".join(args.text)})
    m = data["message"]
    print_result(data, args.json, f"told your parent ({m['id']})" if m else "task complete "
                                                                      "(no live parent to tell)")
    return 0


def _turn_complete(client: Client, args: argparse.Namespace) -> int:
    data = client.post("/me/turn-complete")
    if args.json:
        print_result(data, True, "")
    return 0


# -- conversations -------------------------------------------------------------------------------
def _cleared(data: dict[str, Any], as_json: bool, what: str) -> int:
    prompt = data["prompt"]
    then = f", then prompt {prompt['id']}" if prompt else ""
    print_result(data, as_json, f"{what}: clear {data['clear']['id']} queued{then}")
    return 0


def _clear(client: Client, args: argparse.Namespace) -> int:
    words = list(args.prompt)
    for flag in ("--urgent", "--json"):  # given after TARGET: taken off either end
        for end in (0, -1):
            if words and words[end] == flag:
                setattr(args, flag[2:], True)
                words.pop(end)
    body = {"prompt": " ".join(words), "mode": "urgent" if args.urgent else "sequential"}
    data = client.post(f"/sessions/{quote_ref(args.target)}/clear", body)
    return _cleared(data, args.json, args.target)


def _handoff(client: Client, args: argparse.Namespace) -> int:
    try:
        if args.file == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as f:
                raw = f.read()
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{args.file} is not valid UTF-8 (offset {exc.start})") from None
    data = client.post("/me/handoff", {"text": text})
    return _cleared(data, args.json, "at the end of this turn")


def _dispatch(client: Client, args: argparse.Namespace) -> int:
    parser = argparse.ArgumentParser(prog="sm dispatch", add_help=False)
    _dispatch_options(parser)
    opts, extra = parser.parse_known_args(args.rest)
    role = opts.role or args.role
    if not role:
        raise InvalidInput("sm dispatch AGENT --role ROLE [--PARAM VALUE …]: --role is missing")
    flags = {f: getattr(opts, f[2:].replace("-", "_")) or getattr(args, f[2:].replace("-", "_"))
             for f in _DISPATCH_FLAGS}
    body = {
        "agent": args.agent, "role": role, "params": parse_params(extra), "cwd": os.getcwd(),
        "dry_run": flags["--dry-run"], "clear": not flags["--no-clear"],
        "mode": "urgent" if flags["--urgent"] else "sequential",
    }
    data = client.post("/dispatch", body)
    if flags["--dry-run"]:
        print_result(data, flags["--json"], data["text"])
    else:
        m = data["message"]
        print_result(data, flags["--json"], f"dispatched {_label(data['session'])} as {role} "
                                      f"(message {m['id'] if m else '-'})")
    return 0


def parse_params(tokens: list[str]) -> dict[str, str]:
    """``--name VALUE`` and ``--name=VALUE`` pairs → ``{"name": VALUE}`` (dashes in
    names become underscores). Raises InvalidInput for a stray word or a missing value."""
    params: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) < 3:
            raise InvalidInput(f"unexpected argument {token!r}: parameters are --NAME VALUE")
        name, eq, value = token[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise InvalidInput(f"parameter --{name} needs a value")
            value, i = tokens[i + 1], i + 1
        params[name.replace("-", "_")] = value
        i += 1
    return params


def _em(client: Client, args: argparse.Namespace) -> int:
    data = client.post("/me/em", {"name": args.name})
    me, kids = data["session"], data["children"]
    digest = f"a digest every {_ago(data['digest_every'])}" if data["digest_every"] else "no digest"
    print_result(data, args.json, f"{_label(me)} is the orchestrator: status nudges on "
                            f"{len(kids)} child(ren), {digest}")
    return 0


# -- views ---------------------------------------------------------------------------------------
def _rows(items: list[dict[str, Any]]) -> str:
    from sm.cli.views import format_team

    return format_team(items) if items else ""


def _children(client: Client, args: argparse.Namespace) -> int:
    ref = args.session or client.session_id
    if not ref:
        raise InvalidInput("whose children: sm children SESSION (or run it from an agent)")
    items = client.get(f"/sessions/{quote_ref(ref)}/children",
                       recursive=int(args.recursive) or None, all=int(args.all) or None)["items"]
    print_result(items, args.json, _rows(items) or "no children")
    return 0


def _others(client: Client, args: argparse.Namespace) -> int:
    data = client.get("/others", cwd=os.getcwd())
    print_result(data, args.json, _rows(data["items"]) or f"nobody else in {data['repo']}")
    return 0


def _alone(client: Client, args: argparse.Namespace) -> int:
    data = client.get("/others", cwd=os.getcwd())
    names = ", ".join(_label(s) for s in data["items"])
    print_result(data, args.json, f"alone in {data['repo']}" if not names else
           f"not alone in {data['repo']}: {names}")
    return 0 if not data["items"] else 1


COMMANDS = {
    "wait": _wait, "remind": _remind, "reminders": _reminders,
    "task-complete": _task_complete, "turn-complete": _turn_complete, "clear": _clear,
    "handoff": _handoff, "dispatch": _dispatch, "em": _em, "children": _children,
    "alone": _alone, "others": _others,
}
