"""Agent-facing commands: argparse and the raw-socket client, nothing heavier."""

from __future__ import annotations

import argparse
import os
import sys

from sm.cli import ask, coordination, finish, locks, notes
from sm.cli.plain import print_result
from sm.client import Client, quote_ref

TYPE_CHECKING = False  # typing costs ~1 ms per call on the agent's hot path
if TYPE_CHECKING:
    from typing import Any


class _Formatter(argparse.HelpFormatter):
    """Knows its width without ``shutil`` (which drags in bz2 and lzma: ~3 ms a call)."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        try:
            columns = os.get_terminal_size().columns
        except OSError:
            columns = 80
        kwargs.setdefault("width", columns - 2)
        super().__init__(prog, **kwargs)


class _OnlyOne:
    """Stands in for the subparsers action and builds only the command being run:
    building all of them costs more than the request itself."""

    def __init__(self, sub: Any, command: str) -> None:
        self._sub = sub
        self._command = command
        self._scratch = argparse.ArgumentParser(
            add_help=False, conflict_handler="resolve", formatter_class=_Formatter
        )

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == self._command:
            kwargs.setdefault("formatter_class", _Formatter)
            parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
            return parser
        return self._scratch


def _parser(command: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sm", description="sm agent commands", formatter_class=_Formatter
    )
    sub = _OnlyOne(p.add_subparsers(dest="command", required=True), command)
    me = sub.add_parser("me", help="who am I (the calling session)")
    me.add_argument("--json", action="store_true")
    st = sub.add_parser("status", help="a session's state (default: your own); from a "
                        "session, sm status \"TEXT\" sets your status line")
    st.add_argument("session", nargs="*", metavar="SESSION | TEXT",
                    help="a session to show; anything that names no session is your new status")
    st.add_argument("--set", action="store_true", help="TEXT is your status, even one word")
    st.add_argument("--json", action="store_true")
    for name in ("list", "all"):
        ls = sub.add_parser(name, help="list sessions (from the store, never from tmux)")
        ls.add_argument("--live", action="store_true", help="only live sessions")
        ls.add_argument("--json", action="store_true")
    send = sub.add_parser("send", help="send a message to one or more sessions")
    send.add_argument("target", help="session (id, prefix or name); several as a,b,c")
    send.add_argument("text", nargs="+", help="the message; - reads stdin")
    mode = send.add_mutually_exclusive_group()
    mode.add_argument("--important", action="store_const", const="important", dest="mode")
    mode.add_argument("--urgent", action="store_const", const="urgent", dest="mode")
    notify = send.add_mutually_exclusive_group()
    notify.add_argument("--notify-on-stop", action="store_const", const=True, dest="notify")
    notify.add_argument("--no-notify-on-stop", action="store_const", const=False, dest="notify")
    send.add_argument("--json", action="store_true")
    msgs = sub.add_parser("messages", help="list messages")
    msgs.add_argument("--to")
    msgs.add_argument("--from", dest="sender")
    msgs.add_argument("--state", help="queued, delivering, delivered, failed, … (comma list)")
    msgs.add_argument("-n", "--limit", type=int, default=50)
    msgs.add_argument("--json", action="store_true")
    msg = sub.add_parser("message", help="one message, with its state and reason")
    msg.add_argument("id")
    msg.add_argument("--json", action="store_true")
    locks.add_parsers(sub)
    coordination.add_parsers(sub)
    ask.add_parsers(sub)
    # these have subcommands of their own: the scratch parser must not get them
    if command == "note":
        notes.add_parsers(sub)
    elif command in ("job", "kb"):
        finish.add_parsers(sub)
    return p


def run(argv: list[str]) -> int:
    parser = _parser(argv[0])
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    return int(_COMMANDS[args.command](Client(), args) or 0)



def _session_lines(s: dict[str, Any]) -> str:
    lines = [
        f"{s['name'] or '-'} ({s['id']}) {s['provider']} {s['state']}",
        f"cwd: {s['cwd']}",
    ]
    if s.get("status_text"):
        lines.append(f"status: {s['status_text']}")
    if s.get("parent_id"):
        lines.append(f"parent: {s['parent_id']}")
    if s.get("last_message"):
        lines.append(f"last message: {s['last_message'][:200]}")
    return "\n".join(lines)


def _me(client: Client, args: argparse.Namespace) -> int:
    data = client.get("/me")
    text = "operator (no session token)" if data.get("operator") else _session_lines(data)
    print_result(data, args.json, text)
    return 0


def _status(client: Client, args: argparse.Namespace) -> int:
    words = args.session
    if words and (args.set or len(words) > 1):
        return coordination.set_status(client, " ".join(words), args.json)
    if words:
        from sm.errors import NotFound

        try:
            data = client.get(f"/sessions/{quote_ref(words[0])}")
        except NotFound:
            if not client.token:
                raise
            return coordination.set_status(client, words[0], args.json)
    else:
        data = client.get("/me")
        if data.get("operator"):
            data = client.get("/sessions", live=1)
            lines = [f"{s['name'] or '-':<16} {s['id']}  {s['state']}" for s in data["items"]]
            print_result(data, args.json, "\n".join(lines) or "no live sessions")
            return 0
    print_result(data, args.json, _session_lines(data))
    return 0


def _list(client: Client, args: argparse.Namespace) -> int:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = client.get("/sessions", live=1 if args.live else None, after=after, limit=1000)
        items += page["items"]
        after = page["next"]
        if not after:
            break
    if args.json:
        print_result(items, True, "")
        return 0
    from sm.cli.output import console, format_sessions

    if items:
        console().print(format_sessions(items))
    else:
        console().print('no sessions — start one with: sm spawn scripted "hello"')
    return 0


def _read_text(words: list[str]) -> str:
    if words == ["-"]:
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            from sm.errors import InvalidInput

            raise InvalidInput(
                f"message on stdin is not valid UTF-8 (offset {exc.start})"
            ) from None
    return " ".join(words)


def _send(client: Client, args: argparse.Namespace) -> int:
    body = {
        "targets": [t for t in args.target.split(",") if t],
        "body": _read_text(args.text),
        "mode": args.mode or "sequential",
        "notify_on_stop": args.notify,
    }
    items = client.post("/messages", body)["items"]
    lines = [f"{m['id']} {m['state']} → {m['to']}" + (f" ({m['reason']})" if m["reason"] else "")
             for m in items]
    print_result(items, args.json, "\n".join(lines))
    return 1 if any(m["state"] == "failed" for m in items) else 0


def _messages(client: Client, args: argparse.Namespace) -> int:
    items = client.get("/messages", to=args.to, sender=args.sender, state=args.state,
                       limit=args.limit)["items"]
    lines = [
        f"{m['id']} {m['from']:>10} → {m['to']:<10} {m['mode']:<10} {m['state']:<10} "
        f"{(m['reason'] or m['body']).splitlines()[0][:60] if (m['reason'] or m['body']) else ''}"
        for m in items
    ]
    print_result(items, args.json, "\n".join(lines) or "no messages")
    return 0


def _message(client: Client, args: argparse.Namespace) -> int:
    m = client.get(f"/messages/{quote_ref(args.id)}")
    text = (f"{m['id']} from {m['from']} to {m['to']} ({m['mode']}): {m['state']}"
            + (f" — {m['reason']}" if m["reason"] else "") + f"\n{m['body']}")
    print_result(m, args.json, text)
    return 0


_COMMANDS = {
    "me": _me, "status": _status, "list": _list, "all": _list, "send": _send,
    "messages": _messages, "message": _message,
}
_COMMANDS.update(locks.COMMANDS)
_COMMANDS.update(coordination.COMMANDS)
_COMMANDS.update(ask.COMMANDS)
_COMMANDS.update(notes.COMMANDS)
_COMMANDS.update(finish.COMMANDS)
