"""sm ask: put a question to the human and wait for the answer; sm asks and sm answer:
the human's side (Telegram, the web and ``sm watch`` answer too).

Stdlib only (the fast path). The question gets an id here, so when the daemon restarts
mid-wait the command reconnects and keeps waiting for the same question.

    exit 0   answered: the answer is printed
    exit 1   no answer in time: the --default is printed, if given
    exit 2   bad arguments
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from sm.client import Client, quote_ref
from sm.errors import Unavailable

TYPE_CHECKING = False  # typing costs ~1 ms per call on the agent's hot path
if TYPE_CHECKING:
    from typing import Any

_WAIT = 10.0  # seconds per long poll: short, so a daemon stopping never waits long on it


def add_parsers(sub: Any) -> None:
    from sm.cli.fast import add_json

    ask = sub.add_parser("ask", help=HELP["ask"])
    ask.add_argument("question", nargs="+", help="the question")
    ask.add_argument("--choices", default="", metavar="A,B,C",
                     help="answers offered as buttons")
    ask.add_argument("--timeout", type=float, default=600.0, metavar="SECONDS",
                     help="seconds to wait (default 600); then exit 1")
    ask.add_argument("--default", metavar="ANSWER", help="printed when nobody answers in time")
    add_json(ask)
    asks = sub.add_parser("asks", help=HELP["asks"])
    add_json(asks)
    answer = sub.add_parser("answer", help=HELP["answer"])
    answer.add_argument("id", help="the question's id (from sm asks)")
    answer.add_argument("text", nargs="+", help="the answer")
    add_json(answer)


def _ask(client: Client, args: argparse.Namespace) -> int:
    body = {
        "id": os.urandom(8).hex(),
        "question": " ".join(args.question),
        "choices": [c.strip() for c in args.choices.split(",") if c.strip()],
        "timeout": args.timeout,
    }
    ask = client.post("/asks", body)
    deadline = time.monotonic() + args.timeout + 5.0
    while ask["state"] == "pending" and time.monotonic() < deadline:
        left = deadline - time.monotonic()
        try:
            ask = client.get(f"/asks/{quote_ref(body['id'])}", wait=round(min(_WAIT, left), 1))
        except (OSError, Unavailable):
            time.sleep(0.5)  # the daemon is restarting: the question is a row, ask again
    if args.json:
        sys.stdout.write(json.dumps(ask) + "\n")
    if ask["state"] == "answered":
        if not args.json:
            sys.stdout.write(f"{ask['answer']}\n")
        return 0
    if args.default is not None and not args.json:
        sys.stdout.write(f"{args.default}\n")
    if ask["state"] == "withdrawn":
        print(f"sm: the question was withdrawn ({ask.get('answered_by') or 'sm'})",
              file=sys.stderr)
    else:
        print(f"sm: no answer within {args.timeout:g}s", file=sys.stderr)
    return 1


def _asks(client: Client, args: argparse.Namespace) -> int:
    items = client.get("/asks")["items"]
    if args.json:
        sys.stdout.write(json.dumps(items) + "\n")
    elif not items:
        sys.stdout.write("no questions waiting\n")
    for ask in [] if args.json else items:
        choices = f"  [{', '.join(ask['choices'])}]" if ask["choices"] else ""
        sys.stdout.write(f"{ask['id']}  {ask['question']}{choices}\n")
    return 0


def _answer(client: Client, args: argparse.Namespace) -> int:
    ask = client.post(f"/asks/{quote_ref(args.id)}/answer", {"answer": " ".join(args.text)})
    sys.stdout.write((json.dumps(ask) if args.json else f"answered {ask['id']}") + "\n")
    return 0


COMMANDS = {"ask": _ask, "asks": _asks, "answer": _answer}
HELP = {
    "ask": "Ask the human and wait: sm ask \"Q\" [--choices a,b] [--timeout S].",
    "asks": "The questions waiting for the human: sm asks.",
    "answer": "Answer a question as the human: sm answer ID TEXT.",
}
