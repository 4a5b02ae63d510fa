"""sm's one hook entry point. Agents run it on every hook; tmux runs it when a pane dies.

    sm_hook.py EVENT            hook JSON on stdin (Claude Code, Codex hooks, scripted agent)
    sm_hook.py EVENT JSON       hook JSON as the last argument (Codex ``notify``)
    sm_hook.py EVENT k=v …      fields as arguments (tmux ``pane-died``)

It reads exactly one JSON document (it never waits for EOF: the agent may keep stdin
open), posts it synchronously to the daemon with a short timeout, and when the daemon
cannot be reached appends it to ``$SM_HOME/spool/hooks.jsonl``, which the daemon drains
in order when it starts. Whatever the daemon answers for the agent (a PreToolUse
decision) is printed on stdout. Stdlib only, and it always exits 0: a broken sm must
never break the agent.
"""

from __future__ import annotations

import json
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


def _read_stdin() -> object:
    if sys.stdin is None or sys.stdin.isatty():
        return {}
    decoder = json.JSONDecoder()
    buf = b""
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        buf += chunk
        text = buf.rstrip()
        if text.endswith((b"}", b"]")):
            try:
                return decoder.raw_decode(text.decode("utf-8", "replace").lstrip())[0]
            except ValueError:
                continue
    text = buf.decode("utf-8", "replace").strip()
    return json.loads(text) if text else {}


def _payload(args: list[str]) -> object:
    if not args:
        return _read_stdin()
    if len(args) == 1 and args[0].lstrip().startswith("{"):
        return json.loads(args[0])
    return dict(arg.split("=", 1) for arg in args if "=" in arg)


def _spool(client: Client, record: dict[str, object]) -> None:
    import fcntl

    spool = os.path.join(client.home, "spool")
    os.makedirs(spool, exist_ok=True)
    fd = os.open(os.path.join(spool, "hooks.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, (json.dumps(record) + "\n").encode())
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
    try:
        payload = _payload(argv[1:])
    except ValueError as exc:
        _log(Client(autostart=False), f"{event}: bad hook JSON: {exc}")
        print(f"sm hook: bad hook JSON for {event}: {exc}", file=sys.stderr)
        return 0
    timeout = float(os.environ.get("SM_HOOKS_TIMEOUT") or 5.0)
    client = Client(timeout=timeout, autostart=False)
    record = {"id": os.urandom(16).hex(), "event": event, "payload": payload, "ts": time.time()}
    try:
        answer = client.post(f"/hooks/{event}", record)
    except (OSError, Unavailable):
        record["token"] = client.token
        try:
            _spool(client, record)
        except OSError as exc:
            print(f"sm hook: cannot reach the daemon nor spool {event}: {exc}", file=sys.stderr)
        return 0
    except SmError as exc:
        _log(client, f"{event}: {exc.message}")
        print(f"sm hook: {exc.message}", file=sys.stderr)
        return 0
    output = answer.get("output") if isinstance(answer, dict) else None
    if output:
        sys.stdout.write(json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
