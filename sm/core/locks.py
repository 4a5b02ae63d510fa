"""Locks, the pure part: leases on canonical paths, conflicts, the wait-for graph.

A lease is held by one session on one canonical path (a file or a directory). Two
leases of different sessions conflict when their paths are equal or one lies beneath
the other, so a directory lock conflicts with any lock inside it and the reverse. A
workspace lock is a directory lock on a repository's top level.

A session that waits for a lease waits for the sessions holding the conflicting ones;
a request whose wait would close a cycle in that graph is a deadlock and is refused.

No I/O here: paths arrive canonical (``realpath``-ed by the caller).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from sm.store.locks import Lease

WRITE_TOOLS = frozenset({"Write", "Edit", "MultiEdit", "NotebookEdit"})
PATCH_TOOLS = frozenset({"apply_patch", "ApplyPatch"})
DESTRUCTIVE_GIT = frozenset(
    {"checkout", "switch", "restore", "clean", "stash", "rebase", "merge", "reset"}
)
_READ_ONLY_STASH = frozenset({"list", "show"})
_GIT_OPTS_WITH_VALUE = frozenset({"-C", "-c", "--git-dir", "--work-tree", "--namespace"})
_PATCH_FILE = re.compile(r"^\*\*\* (?:Add|Update|Delete) File: (.+)$|^\*\*\* Move to: (.+)$", re.M)
_SEPARATORS = re.compile(r"&&|\|\||[;|\n&()]")


def overlaps(a: str, b: str) -> bool:
    """Whether two canonical paths collide: equal, or one beneath the other."""
    if a == b:
        return True
    return b.startswith(_dir(a)) or a.startswith(_dir(b))


def beneath(path: str, root: str) -> bool:
    return path == root or path.startswith(_dir(root))


def _dir(path: str) -> str:
    return path if path.endswith("/") else path + "/"


def conflicts(leases: Iterable[Lease], session_id: str, paths: Iterable[str]) -> list[Lease]:
    """Leases of other sessions that collide with any of ``paths``, oldest first."""
    wanted = list(paths)
    found = [
        lease for lease in leases
        if lease.session_id != session_id and any(overlaps(lease.path, p) for p in wanted)
    ]
    return sorted(found, key=lambda lease: (lease.acquired_at, lease.path))


def find_cycle(edges: Mapping[str, Iterable[str]], start: str) -> list[str] | None:
    """A cycle through ``start`` in the wait-for graph (``a`` waits for each of
    ``edges[a]``), as ``[start, …, start]``; None when there is none."""
    path = [start]
    seen: set[str] = set()

    def visit(node: str) -> bool:
        for nxt in sorted(set(edges.get(node, ()))):
            if nxt == start:
                path.append(start)
                return True
            if nxt in seen:
                continue
            seen.add(nxt)
            path.append(nxt)
            if visit(nxt):
                return True
            path.pop()
        return False

    return path if visit(start) else None


def describe_cycle(
    cycle: list[str],
    wants: Mapping[str, list[str]],
    holds: Mapping[str, list[Lease]],
    label: Mapping[str, str],
) -> str:
    """Spell a cycle out: who holds what and waits for what, held by whom."""
    parts = []
    for waiter, holder in zip(cycle, cycle[1:], strict=False):
        blocking = [
            lease.path for lease in holds.get(holder, [])
            if any(overlaps(lease.path, p) for p in wants.get(waiter, []))
        ]
        held = ", ".join(lease.path for lease in holds.get(waiter, [])) or "nothing"
        parts.append(
            f"{label.get(waiter, waiter)} holds {held} and waits for "
            f"{', '.join(blocking) or '?'} held by {label.get(holder, holder)}"
        )
    return "; ".join(parts)


def describe_holders(blockers: list[Lease], label: Mapping[str, str]) -> str:
    """``path held by name (reason)`` for each blocking lease."""
    out = []
    for lease in blockers:
        why = f" ({lease.reason})" if lease.reason else ""
        what = "the workspace " if lease.kind == "workspace" else ""
        who = label.get(lease.session_id, lease.session_id)
        out.append(f"{what}{lease.path} held by {who}{why}")
    return "; ".join(out)


def written_paths(tool_name: str, tool_input: Mapping[str, Any]) -> list[str]:
    """The files a tool call writes, as given (maybe relative): Claude Code's write
    tools and Codex's ``apply_patch``. Empty for every other tool."""
    if tool_name in WRITE_TOOLS:
        value = tool_input.get("file_path") or tool_input.get("notebook_path")
        return [str(value)] if value else []
    if tool_name in PATCH_TOOLS:
        return patch_paths(tool_input)
    return []


def patch_paths(tool_input: Any) -> list[str]:
    """Files named by an apply_patch envelope anywhere inside ``tool_input``."""
    texts: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)

    collect(tool_input)
    paths: list[str] = []
    for text in texts:
        for m in _PATCH_FILE.finditer(text):
            name = (m.group(1) or m.group(2)).strip()
            if name not in paths:
                paths.append(name)
    return paths


def destructive_git(command: str) -> list[tuple[str, str | None]]:
    """Destructive git invocations in a shell command line: ``(subcommand, dir)`` for
    each, ``dir`` from ``git -C DIR`` (None: the command's cwd). ``reset`` counts only
    with ``--hard``; ``stash list``/``stash show`` are read-only."""
    found: list[tuple[str, str | None]] = []
    for part in _SEPARATORS.split(command):
        try:
            words = shlex.split(part, comments=True)
        except ValueError:
            words = part.split()
        while words and "=" in words[0] and not words[0].startswith("-"):
            words = words[1:]  # VAR=value prefixes
        if not words or words[0].rsplit("/", 1)[-1] != "git":
            continue
        i, where = 1, None
        while i < len(words) and words[i].startswith("-"):
            opt = words[i]
            if opt in _GIT_OPTS_WITH_VALUE and i + 1 < len(words):
                if opt == "-C":
                    where = words[i + 1] if where is None else f"{where}/{words[i + 1]}"
                i += 2
            else:
                i += 1
        if i >= len(words) or words[i] not in DESTRUCTIVE_GIT:
            continue
        sub, rest = words[i], words[i + 1:]
        if sub == "reset" and "--hard" not in rest:
            continue
        if sub == "stash" and rest and rest[0] in _READ_ONLY_STASH:
            continue
        found.append((sub, where))
    return found


def deny(reason: str) -> dict[str, Any]:
    """A PreToolUse hook output that refuses the tool call (Claude Code's format)."""
    return {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }
