"""Agent-facing commands: argparse and the raw-socket client, nothing heavier."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sm.client import Client, quote_ref


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sm", description="sm agent commands")
    sub = p.add_subparsers(dest="command", required=True)
    me = sub.add_parser("me", help="who am I (the calling session)")
    me.add_argument("--json", action="store_true")
    st = sub.add_parser("status", help="a session's state (default: your own)")
    st.add_argument("session", nargs="?")
    st.add_argument("--json", action="store_true")
    return p


def run(argv: list[str]) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0
    return int(_COMMANDS[args.command](Client(), args) or 0)


def _print(data: Any, as_json: bool, text: str) -> None:
    sys.stdout.write(json.dumps(data) + "\n" if as_json else text + "\n")


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
    _print(data, args.json, text)
    return 0


def _status(client: Client, args: argparse.Namespace) -> int:
    if args.session:
        data = client.get(f"/sessions/{quote_ref(args.session)}")
    else:
        data = client.get("/me")
        if data.get("operator"):
            data = client.get("/sessions", live=1)
            lines = [f"{s['name'] or '-':<16} {s['id']}  {s['state']}" for s in data["items"]]
            _print(data, args.json, "\n".join(lines) or "no live sessions")
            return 0
    _print(data, args.json, _session_lines(data))
    return 0


_COMMANDS = {"me": _me, "status": _status}
