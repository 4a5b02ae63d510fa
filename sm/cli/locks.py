"""sm lock / unlock / locks: agent-facing, on the stdlib fast path (see ``fast``).

Paths are sent as typed with the caller's cwd; the daemon canonicalises them
(realpath), so a relative path, an absolute one and a symlink name one lease.
"""

from __future__ import annotations

import argparse
import os
import time

from sm.cli.plain import print_result
from sm.client import Client

TYPE_CHECKING = False  # typing costs ~1 ms per call on the agent's hot path
if TYPE_CHECKING:
    from typing import Any


def add_parsers(sub: Any) -> None:
    from sm.cli.fast import add_json

    lock = sub.add_parser("lock", help=HELP["lock"])
    lock.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to lock")
    lock.add_argument("--workspace", action="store_true",
                      help="lock the whole repo/worktree holding the cwd")
    lock.add_argument("--reason", default="", help="shown to whoever is refused")
    lock.add_argument("--ttl", type=float, metavar="SECONDS",
                      help="seconds until the lock expires on its own")
    lock.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                      help="wait up to this many seconds for the holders to release")
    add_json(lock)
    unlock = sub.add_parser("unlock", help=HELP["unlock"])
    unlock.add_argument("paths", nargs="*", metavar="PATH", help="paths to release (default: all)")
    unlock.add_argument("--force", action="store_true",
                        help="release whoever holds PATH (the operator, or a parent)")
    add_json(unlock)
    locks = sub.add_parser("locks", help=HELP["locks"])
    locks.add_argument("--session", help="only this session's locks")
    add_json(locks)


def _lock(client: Client, args: argparse.Namespace) -> int:
    if not args.paths and not args.workspace:
        raise _invalid("name the paths to lock, or --workspace")
    if args.paths and args.workspace:
        raise _invalid("give paths or --workspace, not both")
    body = {"paths": args.paths, "cwd": os.getcwd(), "reason": args.reason, "ttl": args.ttl,
            "wait": args.wait, "workspace": args.workspace}
    client.timeout = max(client.timeout, args.wait + 30.0)
    items = client.post("/locks", body)["items"]
    print_result(items, args.json, "\n".join(f"locked {_describe(i)}" for i in items))
    return 0


def _unlock(client: Client, args: argparse.Namespace) -> int:
    body = {"paths": args.paths, "cwd": os.getcwd(), "force": args.force}
    items = client.post("/locks/release", body)["items"]
    lines = [f"released {i['path']}" + (f" (held by {i['holder']})" if args.force else "")
             for i in items]
    print_result(items, args.json, "\n".join(lines) or "no locks held")
    return 0


def _locks(client: Client, args: argparse.Namespace) -> int:
    data = client.get("/locks", session=args.session)
    lines = [f"{i['holder']:<16} {_describe(i)}" for i in data["items"]]
    lines += [f"{w['holder']:<16} waiting for {', '.join(w['paths'])}" for w in data["waiting"]]
    print_result(data, args.json, "\n".join(lines) or "no locks")
    return 0


def _describe(lease: dict[str, Any]) -> str:
    text = lease["path"] + ("/ (workspace)" if lease["kind"] == "workspace" else "")
    extra = []
    if lease.get("reason"):
        extra.append(lease["reason"])
    if lease.get("expires_at"):
        extra.append(f"expires in {max(0, int(lease['expires_at'] - time.time()))}s")
    return str(text) + (f" ({'; '.join(extra)})" if extra else "")



def _invalid(message: str) -> Exception:
    from sm.errors import InvalidInput

    return InvalidInput(message)


COMMANDS = {"lock": _lock, "unlock": _unlock, "locks": _locks}
HELP = {
    "lock": "Lock files, directories or --workspace (waits with --wait).",
    "unlock": "Release your locks (or --force someone's, as the operator).",
    "locks": "Who holds which locks, and who waits.",
}
