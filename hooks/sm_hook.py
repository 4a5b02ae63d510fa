"""sm's one hook entry point. Agents run it on every hook; tmux runs it when a pane dies.

    sm_hook.py EVENT            hook JSON on stdin (Claude Code, Codex hooks, scripted agent)
    sm_hook.py EVENT JSON       hook JSON as the last argument (Codex ``notify``)
    sm_hook.py EVENT k=v …      fields as arguments (tmux ``pane-died``)

It reads exactly one JSON document (it never waits for EOF: the agent may keep stdin
open), posts it synchronously to the daemon with a short timeout, and when the daemon
cannot be reached (or fails: a 5xx) appends it to ``$SM_HOME/spool/hooks.jsonl``, which
the daemon drains in order. A spooled line names the session and is signed with its
token (HMAC-SHA256): the token itself is never written. A payload over the daemon's
size cap is posted without it, so the fact (a turn ended) still arrives. Whatever the
daemon answers for the agent (a PreToolUse decision) is printed on stdout. Stdlib only,
and it always exits 0: a broken sm must never break the agent.

It runs on every tool call, so it forwards the agent's JSON as it came, without parsing
it: the ``json`` module (and the ``re`` it pulls in) would double its cost.
"""

from __future__ import annotations

import os
import sys
import time

# hooks/sm_hook.py in a checkout, sm/_hooks/sm_hook.py in an installed wheel
_here = os.path.dirname(os.path.abspath(__file__))
_up = 1 if os.path.basename(_here) == "hooks" else 2
for _ in range(_up):
    _here = os.path.dirname(_here)
sys.path.insert(0, _here)

from sm.client import Client  # noqa: E402
from sm.errors import SmError, Unavailable  # noqa: E402

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


class _Document:
    """Tells when the bytes fed so far hold one complete JSON object or array, by
    tracking nesting outside strings (the daemon validates the JSON itself)."""

    def __init__(self) -> None:
        self.depth = 0
        self.started = False
        self.in_string = False
        self.escaped = False

    def feed(self, chunk: bytes) -> bool:
        for byte in chunk:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif byte == 0x5C:  # backslash
                    self.escaped = True
                elif byte == 0x22:  # quote
                    self.in_string = False
            elif byte == 0x22:
                self.in_string = True
            elif byte in (0x7B, 0x5B):  # { [
                self.depth += 1
                self.started = True
            elif byte in (0x7D, 0x5D):  # } ]
                self.depth -= 1
                if self.started and self.depth == 0:
                    return True
        return False


def _read_stdin() -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        return b"{}"
    doc, buf = _Document(), bytearray()
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        buf += chunk
        if doc.feed(chunk):
            break
    return bytes(buf).strip() or b"{}"


def _payload(args: list[str]) -> bytes:
    if not args:
        return _read_stdin()
    if len(args) == 1 and args[0].lstrip().startswith(("{", "[")):
        return args[0].encode()
    import json  # the rare tmux form

    return json.dumps(dict(arg.split("=", 1) for arg in args if "=" in arg)).encode()


def _string(value: str) -> bytes:
    raw = value.encode()
    if all(b in _SAFE for b in raw):
        return b'"' + raw + b'"'
    import json

    return json.dumps(value).encode()


def _record(hook_id: str, event: str, payload: bytes, session: str | None = None,
            token: str = "") -> bytes:
    """The record posted; with ``session``, the spool line (signed when ``token``)."""
    parts = [b'{"id":', _string(hook_id), b',"event":', _string(event),
             b',"ts":', repr(time.time()).encode()]
    if session is not None:
        parts += [b',"session":', _string(session)]
    body = b"".join([*parts, b',"payload":', payload])
    if not token:
        return body + b"}"
    import hashlib
    import hmac

    mac = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    return body + b',"mac":"' + mac.encode() + b'"}'


def _spool(client: Client, line: bytes) -> None:
    import fcntl

    spool = os.path.join(client.home, "spool")
    os.makedirs(spool, exist_ok=True)
    fd = os.open(os.path.join(spool, "hooks.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, line + b"\n")
    finally:
        os.close(fd)


def _log(client: Client, line: str) -> None:
    """Failures go to $SM_HOME/logs/hooks.log: the agent shows a hook's stderr nowhere."""
    try:
        os.makedirs(os.path.join(client.home, "logs"), exist_ok=True)
        with open(os.path.join(client.home, "logs", "hooks.log"), "a") as f:
            f.write(f"{time.time():.3f} {line}\n")
    except OSError:
        pass


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: sm_hook.py EVENT [JSON | key=value …]", file=sys.stderr)
        return 0
    event = argv[0]
    timeout = float(os.environ.get("SM_HOOKS_TIMEOUT") or 5.0)
    client = Client(timeout=timeout, autostart=False)
    payload = _payload(argv[1:])
    hook_id = os.urandom(16).hex()
    try:
        status, answer = client.send("POST", f"/hooks/{event}", _record(hook_id, event, payload))
        if status == 413:  # over the size cap: the fact without its payload
            dropped = b'{"sm_dropped_bytes":' + str(len(payload)).encode() + b"}"
            status, answer = client.send("POST", f"/hooks/{event}",
                                         _record(hook_id, event, dropped))
    except (OSError, Unavailable):
        status, answer = 599, b""
    except SmError as exc:
        _log(client, f"{event}: {exc.message}")
        return 0
    if status >= 500:  # no daemon, or one that failed (a full disk): later, from the spool
        try:
            _spool(client, _record(hook_id, event, payload, client.session_id, client.token))
        except OSError as exc:
            print(f"sm hook: cannot reach the daemon nor spool {event}: {exc}", file=sys.stderr)
        if answer:
            _log(client, f"{event}: HTTP {status}, spooled: {answer[:300]!r}")
        return 0
    if status >= 400:
        text = answer.decode("utf-8", "replace")[:500]
        _log(client, f"{event}: HTTP {status}: {text}")
        print(f"sm hook: {event}: HTTP {status}: {text}", file=sys.stderr)
    elif answer.strip() not in (b"", b"{}", b"null"):
        sys.stdout.write(answer.decode("utf-8", "replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
