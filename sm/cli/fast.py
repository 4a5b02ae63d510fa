"""Agent-facing commands: argparse and the raw-socket client, nothing heavier."""

from __future__ import annotations

import argparse

from sm.cli import ask, coordination, finish, locks, notes
from sm.cli.plain import print_result
from sm.client import Client, quote_ref

TYPE_CHECKING = False  # typing costs ~1 ms per call on the agent's hot path
if TYPE_CHECKING:
    from typing import Any



class _OnlyOne:
    """Stands in for the subparsers action and builds only the command being run:
    building all of them costs more than the request itself."""

    def __init__(self, sub: Any, command: str) -> None:
        self._sub = sub
        self._command = command
        self._scratch = argparse.ArgumentParser(add_help=False, conflict_handler="resolve")

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        if name == self._command or self._command in kwargs.get("aliases", ()):
            kwargs.setdefault("description", kwargs.get("help"))
            kwargs.pop("aliases", None)
            parser: argparse.ArgumentParser = self._sub.add_parser(self._command, **kwargs)
            return parser
        return self._scratch


HELP = {
    "me": "Who am I: the calling session (or the operator).",
    "status": "A session's state (default: your own); from a session, sm status \"TEXT\" "
              "sets your status line.",
    "list": "List sessions, from the store (alias: ls, all).",
    "send": "Send a message to one or more sessions: queued durably, delivered with a receipt.",
    "messages": "List messages, the newest last.",
    "message": "One message with its state and reason; sm message cancel ID cancels it.",
}
JSON_HELP = "Print JSON."


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=JSON_HELP)


def _states() -> list[str]:
    from sm.vocab import MessageState

    return [state.value for state in MessageState]


def _parser(command: str) -> argparse.ArgumentParser:
    from sm.cli.usage import Parser

    p = Parser(prog="sm", description="sm agent commands")
    sub = _OnlyOne(p.add_subparsers(dest="command", required=True), command)
    me = sub.add_parser("me", help=HELP["me"])
    add_json(me)
    st = sub.add_parser("status", help=HELP["status"])
    st.add_argument("session", nargs="*", metavar="SESSION|TEXT",
                    help="a session to show; anything that names no session is your new status")
    st.add_argument("--set", action="store_true", help="TEXT is your status, even one word")
    add_json(st)
    ls = sub.add_parser("list", aliases=("ls", "all"), help=HELP["list"])
    ls.add_argument("--live", action="store_true", help="only live sessions")
    add_json(ls)
    send = sub.add_parser("send", help=HELP["send"])
    send.add_argument("target", help="session (id, prefix or name); several as a,b,c")
    send.add_argument("text", nargs="+", help="the message; - reads it from stdin")
    mode = send.add_mutually_exclusive_group()
    mode.add_argument("--important", action="store_const", const="important", dest="mode",
                      help="ahead of queued messages, without interrupting")
    mode.add_argument("--urgent", action="store_const", const="urgent", dest="mode",
                      help="interrupt the running turn, then deliver")
    notify = send.add_mutually_exclusive_group()
    notify.add_argument("--notify-on-stop", action="store_const", const=True, dest="notify",
                        help="tell me when the turn it starts ends (a session's default)")
    notify.add_argument("--no-notify-on-stop", action="store_const", const=False,
                        dest="notify", help="don't")
    send.add_argument("--raw", action="store_true",
                      help="type TEXT as given: no header, every line (managers only)")
    add_json(send)
    msgs = sub.add_parser("messages", help=HELP["messages"])
    msgs.add_argument("--to", metavar="SESSION", help="only messages to this session")
    msgs.add_argument("--from", dest="sender", metavar="SESSION",
                      help="only messages from this session")
    msgs.add_argument("--state", metavar="STATES",
                      help="only these states, a comma list: " + ", ".join(_states())
                      if command == "messages" else None)
    msgs.add_argument("-n", "--limit", type=int, default=50, metavar="N",
                      help="the newest N (default 50)")
    add_json(msgs)
    msg = sub.add_parser("message", help=HELP["message"])
    msg.add_argument("words", nargs="+", metavar="[cancel] ID",
                     help="the message's id; cancel ID cancels a message not yet delivered")
    add_json(msg)
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



def _me(client: Client, args: argparse.Namespace) -> int:
    from sm.cli.quick_me import me

    return me(client, args.json)


def _status(client: Client, args: argparse.Namespace) -> int:
    from sm.cli.quick_me import status

    return status(client, args.session, args.set, args.json)


def all_sessions(client: Client, live: bool = False) -> list[dict[str, Any]]:
    """Every session record, page by page."""
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = client.get("/sessions", live=1 if live else None, after=after, limit=1000)
        items += page["items"]
        after = page["next"]
        if not after:
            return items


def _list(client: Client, args: argparse.Namespace) -> int:
    everyone = all_sessions(client)
    spent = client.get("/usage/sessions")["items"]
    for item in everyone:
        item.update(spent.get(item["id"]) or {})
    items = [s for s in everyone if s["state"] not in _DEAD] if args.live else everyone
    if args.json:
        print_result(items, True, "")
        return 0
    from sm.cli.tables import color_enabled
    from sm.cli.views import format_sessions, names_of

    if items:
        text = format_sessions(items, names_of(everyone), color=color_enabled())
    elif everyone:
        text = (f"no live sessions ({len(everyone)} ended: stopped, exited or error) — "
                "sm list shows them")
    else:
        text = 'no sessions — start one with: sm spawn scripted "hello"'
    print_result(items, False, text)
    return 0


def _send(client: Client, args: argparse.Namespace) -> int:
    from sm.cli.quick_send import send

    return send(client, args.target, args.text, args.mode, args.notify, args.json,
                args.raw)


def _messages(client: Client, args: argparse.Namespace) -> int:
    states = [x.strip() for x in (args.state or "").split(",") if x.strip()]
    valid = _states()
    bad = [x for x in states if x not in valid]
    if bad:
        from sm.errors import InvalidInput

        raise InvalidInput(f"no message state {bad[0]!r}; expected one of: {', '.join(valid)}")
    if args.limit < 1:
        from sm.errors import InvalidInput

        raise InvalidInput(f"-n must be at least 1, not {args.limit}")
    # the daemon answers the newest ``limit`` messages, oldest first
    items = client.get("/messages", to=args.to, sender=args.sender,
                       state=",".join(states) or None, limit=args.limit)["items"]
    if args.json:
        print_result(items, True, "")
        return 0
    from sm.cli.views import format_messages, names_of

    text = format_messages(items, names_of(all_sessions(client))) if items else "no messages"
    print_result(items, False, text)
    return 0


def _message(client: Client, args: argparse.Namespace) -> int:
    words = args.words
    if words[0] == "cancel" and len(words) == 2:
        m = client.post(f"/messages/{quote_ref(words[1])}/cancel")
        print_result(m, args.json, f"message {m['id']} {m['state']}")
        return 0
    if len(words) != 1:
        from sm.errors import InvalidInput

        raise InvalidInput("usage: sm message ID  |  sm message cancel ID")
    m = client.get(f"/messages/{quote_ref(words[0])}")
    if args.json:
        print_result(m, True, "")
        return 0
    from sm.cli.views import format_message, names_of

    print_result(m, False, format_message(m, names_of(all_sessions(client))))
    return 0


_DEAD = ("exited", "error", "stopped")
_COMMANDS = {
    "me": _me, "status": _status, "list": _list, "ls": _list, "all": _list, "send": _send,
    "messages": _messages, "message": _message,
}
_COMMANDS.update(locks.COMMANDS)
_COMMANDS.update(coordination.COMMANDS)
_COMMANDS.update(ask.COMMANDS)
_COMMANDS.update(notes.COMMANDS)
_COMMANDS.update(finish.COMMANDS)
