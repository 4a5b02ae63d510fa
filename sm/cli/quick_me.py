"""``sm me`` and ``sm status`` without argparse: agents ask them many times a turn.

Reads ``me [--json]`` and ``status [SESSION | TEXT…] [--set] [--json]`` by hand and hands
anything else (help, an unknown flag) to the full parser, which gives the same result or
the usual error.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from sm.client import Client


def parse(argv: list[str]) -> tuple[list[str], bool, bool] | None:
    """(words, --set, --json) for the arguments after the command, or None for a shape
    the full parser must read."""
    words: list[str] = []
    set_ = as_json = False
    for arg in argv:
        if arg == "--json":
            as_json = True
        elif arg == "--set":
            set_ = True
        elif arg.startswith("-"):
            return None
        else:
            words.append(arg)
    return words, set_, as_json


def run(argv: list[str]) -> int | None:
    """``argv`` starts with ``me`` or ``status``; None when the full parser must read it."""
    args = parse(argv[1:])
    if args is None or (argv[0] == "me" and (args[0] or args[1])):
        return None
    from sm.client import Client

    if argv[0] == "me":
        return me(Client(), args[2])
    return status(Client(), *args)


def session_lines(s: dict[str, Any]) -> str:
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


def me(client: Client, as_json: bool) -> int:
    from sm.cli.plain import print_result

    data = client.get("/me")
    text = "operator (no session token)" if data.get("operator") else session_lines(data)
    print_result(data, as_json, text)
    return 0


def status(client: Client, words: list[str], set_: bool, as_json: bool) -> int:
    """A session's state (your own without words; the team's for the operator); from a
    session, words that name no session (or ``--set``) are its new status line."""
    from sm.cli.plain import print_result
    from sm.client import quote_ref

    if words and (set_ or len(words) > 1):
        return _set(client, " ".join(words), as_json)
    if words:
        from sm.errors import NotFound

        try:
            data = client.get(f"/sessions/{quote_ref(words[0])}")
        except NotFound:
            if not client.token:
                raise
            return _set(client, words[0], as_json)
    else:
        data = client.get("/me")
        if data.get("operator"):
            data = client.get("/sessions", live=1)
            from sm.cli.views import format_team

            text = format_team(data["items"]) if data["items"] else "no live sessions"
            print_result(data, as_json, text)
            return 0
    print_result(data, as_json, session_lines(data))
    return 0


def _set(client: Client, text: str, as_json: bool) -> int:
    from sm.cli.plain import print_result

    s = client.post("/me/status", {"text": text})
    print_result(s, as_json, f"status: {s['status_text']}")
    return 0
