"""``sm note``: the shared key/value scratchpad, on the stdlib fast path (see ``fast``).

    sm note write KEY VALUE|-      set a note (- reads stdin)
    sm note read KEY               print its value
    sm note list [PREFIX]          keys, versions, writers
    sm note rm KEY                 remove it
    sm note watch KEY… | --prefix P [--until VALUE] [--timeout S]
                                   block until a key is written (or holds VALUE)
"""

from __future__ import annotations

import argparse
import sys
import time

from sm.cli.plain import print_result
from sm.client import Client, quote_ref
from sm.errors import InvalidInput

TYPE_CHECKING = False  # typing costs ~1 ms per call on the agent's hot path
if TYPE_CHECKING:
    from typing import Any

HELP = {"note": "Notes: sm note write|read|list|rm|watch (a scratchpad shared by agents)."}
_KEY = "a /-separated key, e.g. build/status"
_SLICE = 30.0  # what one watch request blocks at most; the CLI asks again


def add_parsers(sub: Any) -> None:
    note = sub.add_parser("note", help=HELP["note"])
    actions = note.add_subparsers(dest="action", required=True, metavar="ACTION",
                                  help="write, read, list, rm or watch")
    write = actions.add_parser("write", help="set KEY to VALUE (- reads stdin)")
    write.add_argument("key", metavar="KEY", help=_KEY)
    write.add_argument("value", nargs="+", metavar="VALUE", help="the value; - reads stdin")
    read = actions.add_parser("read", help="print KEY's value")
    read.add_argument("key", metavar="KEY", help=_KEY)
    ls = actions.add_parser("list", help="notes whose key starts with PREFIX")
    ls.add_argument("prefix", nargs="?", default="", metavar="PREFIX",
                    help="only keys starting with it")
    rm = actions.add_parser("rm", help="remove KEY")
    rm.add_argument("key", metavar="KEY", help=_KEY)
    watch = actions.add_parser("watch", help="block until a KEY is written")
    watch.add_argument("keys", nargs="*", metavar="KEY", help="the keys to watch")
    watch.add_argument("--prefix", metavar="PREFIX", help="any key under PREFIX")
    watch.add_argument("--until", metavar="VALUE", help="until a watched key holds this value")
    watch.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                       help="how long to wait (default 600)")
    for p in (write, read, ls, rm, watch):
        p.add_argument("--json", action="store_true", help="print JSON")


def _value(words: list[str]) -> str:
    if words == ["-"]:
        data = sys.stdin.buffer.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"value on stdin is not valid UTF-8 (offset {exc.start})") \
                from None
    return " ".join(words)


def _path(key: str) -> str:
    return "/notes/" + "/".join(quote_ref(part) for part in key.split("/"))


def _note(client: Client, args: argparse.Namespace) -> int:
    return int(_ACTIONS[args.action](client, args) or 0)


def _write(client: Client, args: argparse.Namespace) -> int:
    n = client.request("PUT", _path(args.key), {"value": _value(args.value)})
    print_result(n, args.json, f"{n['key']} written (version {n['version']}, {n['size']} bytes)")
    return 0


def _read(client: Client, args: argparse.Namespace) -> int:
    n = client.get(_path(args.key))
    print_result(n, args.json, n["value"])
    return 0


def _list(client: Client, args: argparse.Namespace) -> int:
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = client.get("/notes", prefix=args.prefix or None, after=after, limit=1000)
        items += page["items"]
        after = page["next"]
        if not after:
            break
    lines = [f"{n['key']:<32} v{n['version']:<4} {n['writer']:<16} "
             f"{n['value'].splitlines()[0][:60] if n['value'] else ''}" for n in items]
    print_result(items, args.json, "\n".join(lines) or "no notes")
    return 0


def _rm(client: Client, args: argparse.Namespace) -> int:
    data = client.request("DELETE", _path(args.key))
    print_result(data, args.json, f"{args.key} removed")
    return 0


def _watch(client: Client, args: argparse.Namespace) -> int:
    if bool(args.keys) == (args.prefix is not None):
        raise InvalidInput("sm note watch KEY… or sm note watch --prefix PREFIX (one of the two)")
    deadline = time.monotonic() + max(0.0, args.timeout)
    client.timeout = _SLICE + 15.0
    after = None
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        data = client.post("/notes/watch", {
            "keys": args.keys, "prefix": args.prefix, "until": args.until, "after": after,
            "timeout": min(remaining, _SLICE)})
        note = data["note"]
        if note is not None:
            text = note["value"] if len(args.keys) == 1 else f"{note['key']} = {note['value']}"
            print_result(data, args.json, text)
            return 0
        after = data["seq"]
        if time.monotonic() >= deadline:
            what = args.prefix + "*" if args.prefix is not None else ", ".join(args.keys)
            until = f" to become {args.until!r}" if args.until is not None else ""
            print_result(data, args.json, f"timed out after {args.timeout:g}s waiting for "
                                          f"{what}{until}")
            return 1


_ACTIONS = {"write": _write, "read": _read, "list": _list, "rm": _rm, "watch": _watch}
COMMANDS = {"note": _note}
