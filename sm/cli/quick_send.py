"""``sm send`` without argparse: the common shapes, parsed by hand.

``sm send`` runs on the agent's hot path; argparse (with ``re`` and ``gettext``) costs
more to import than the whole request. This reads ``TARGET TEXT… [--important |
--urgent] [--notify-on-stop | --no-notify-on-stop] [--json]`` and hands anything else
(help, a typo, an unknown flag) to the full parser, which gives the same result or the
usual error.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sm.client import Client

_MODES = {"--important": "important", "--urgent": "urgent"}
_NOTIFY = {"--notify-on-stop": True, "--no-notify-on-stop": False}


def parse(argv: list[str]) -> tuple[str, list[str], str | None, bool | None, bool] | None:
    """(target, text words, mode, notify, json) for ``sm send ARGV`` (argv after
    ``send``), or None for a shape the full parser must read."""
    words: list[str] = []
    mode: str | None = None
    notify: bool | None = None
    as_json = False
    for arg in argv:
        if arg in _MODES:
            if mode is not None and mode != _MODES[arg]:
                return None
            mode = _MODES[arg]
        elif arg in _NOTIFY:
            if notify is not None and notify != _NOTIFY[arg]:
                return None
            notify = _NOTIFY[arg]
        elif arg == "--json":
            as_json = True
        elif arg.startswith("-") and arg != "-":
            return None
        else:
            words.append(arg)
    if len(words) < 2:
        return None
    return words[0], words[1:], mode, notify, as_json


def run(argv: list[str]) -> int | None:
    """Send, or None when the full parser must handle ``argv``."""
    args = parse(argv)
    if args is None:
        return None
    from sm.client import Client

    return send(Client(), *args)


def read_text(words: list[str]) -> str:
    import sys

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


def send(client: Client, target: str, text: list[str], mode: str | None,
         notify: bool | None, as_json: bool) -> int:
    """POST the message; print one line per target (or the JSON); exit 1 if any failed."""
    import sys

    body = {
        "targets": [t for t in target.split(",") if t],
        "body": read_text(text),
        "mode": mode or "sequential",
        "notify_on_stop": notify,
    }
    items = client.post("/messages", body)["items"]
    if as_json:
        from sm.cli.plain import print_result

        print_result(items, True, "")
    else:
        sys.stdout.write("".join(
            f"{m['id']} {m['state']} → {m['to']}" + (f" ({m['reason']})" if m["reason"] else "")
            + "\n" for m in items))
    return 1 if any(m["state"] == "failed" for m in items) else 0
