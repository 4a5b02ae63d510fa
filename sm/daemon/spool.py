"""The hook spool, ``$SM_HOME/spool/hooks.jsonl``: hooks that could not reach the daemon.

A line is the JSON record the hook would have posted — ``{"id", "event", "ts",
"session", "payload", "mac"}`` — where ``mac`` is HMAC-SHA256, keyed with the session's
token, over the line's bytes before ``,"mac":``. No kernel identity stands behind a
spooled hook, so the MAC does: it proves the session without the token ever being
written, and a copied line is only ever applied once (hooks are applied once by id).
``pane-died`` lines come from sm's tmux server and carry no MAC.

Reading never fails on a line: bytes that are not UTF-8, a torn line, JSON that is not a
record are each skipped (and logged) while the rest is drained.
"""

from __future__ import annotations

import hmac
import json
import re
from hashlib import sha256
from pathlib import Path
from typing import Any

_MAC = re.compile(rb',"mac":"([0-9a-f]{64})"\}$')
_SESSION = re.compile(r"[A-Za-z0-9_-]{1,64}")


class BadLine(ValueError):
    """A spool line that is not a hook record (its message says why)."""


def take(path: Path) -> list[bytes]:
    """Every line of the spool, emptied under its lock (the hooks append under it)."""
    import fcntl

    try:
        f = open(path, "r+b")  # noqa: SIM115 - locked and truncated below
    except FileNotFoundError:
        return []
    with f:
        fcntl.flock(f, fcntl.LOCK_EX)
        data = f.read()
        f.seek(0)
        f.truncate()
    return [line for line in data.split(b"\n") if line.strip()]


def put_back(path: Path, lines: list[bytes]) -> None:
    """Put ``lines`` back at the head of the spool (before what was spooled since)."""
    import fcntl
    import os

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with open(fd, "r+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        newer = f.read()
        f.seek(0)
        f.write(b"".join(line + b"\n" for line in lines) + newer)
        f.truncate()


def parse(line: bytes) -> tuple[dict[str, Any], bytes | None, str]:
    """(the record, the bytes its MAC covers or None, the hex MAC or ""). Raises BadLine."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadLine(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except (ValueError, RecursionError) as exc:
        raise BadLine(f"not JSON ({str(exc)[:80]})") from None
    if not isinstance(record, dict) or not isinstance(record.get("event"), str):
        raise BadLine("not a hook record")
    match = _MAC.search(line.rstrip())
    if match is None:
        return record, None, ""
    return record, line.rstrip()[:match.start()], match.group(1).decode()


def session_of(record: dict[str, Any]) -> str:
    """The session a signed record names. Raises BadLine for no or a malformed id."""
    sid = record.get("session")
    if not isinstance(sid, str) or not _SESSION.fullmatch(sid):
        raise BadLine(f"bad session id {str(sid)[:40]!r}")
    return sid


def verify(signed: bytes, mac: str, token: str) -> bool:
    """Whether ``mac`` is the token's HMAC of ``signed``."""
    return hmac.compare_digest(hmac.new(token.encode(), signed, sha256).hexdigest(), mac)
