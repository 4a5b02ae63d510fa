"""The write guard: locks enforced at write time, from the agents' PreToolUse hooks.

A write tool (Write, Edit, MultiEdit, NotebookEdit, Codex's apply_patch) takes the
file's lease on its own when it is free (an ``auto`` lease) and is refused, naming the
holder, when another live session holds it or a directory above it. A destructive git
command in Bash (checkout, switch, restore, clean, stash, rebase, merge, reset --hard)
needs the whole workspace: taken when nobody else holds anything in that repository,
refused otherwise.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sm.core.leases import Leases
from sm.core.locks import deny, destructive_git, written_paths
from sm.errors import Conflict, InvalidInput
from sm.git.run import toplevel
from sm.store.sessions import SessionRecord


class WriteGuard:
    """A ``Sessions.pre_tool_checks`` entry."""

    def __init__(self, leases: Leases) -> None:
        self.leases = leases

    async def __call__(self, rec: SessionRecord, payload: dict[str, Any]) -> dict[str, Any] | None:
        """The hook output refusing the tool call, or None to let it run. May grant
        auto leases (a store write and a ``lock`` event)."""
        tool = str(payload.get("tool_name") or "")
        tool_input = payload.get("tool_input")
        if not isinstance(tool_input, dict):
            return None
        cwd = str(payload.get("cwd") or rec.cwd)
        if not os.path.isabs(cwd):
            cwd = rec.cwd
        paths = written_paths(tool, tool_input)
        if paths:
            return await self._write(rec, tool, paths, cwd)
        if tool == "Bash" and isinstance(tool_input.get("command"), str):
            return await self._git(rec, tool_input["command"], cwd)
        return None

    async def _write(
        self, rec: SessionRecord, tool: str, paths: list[str], cwd: str
    ) -> dict[str, Any] | None:
        try:
            canon = await self.leases.canonical(paths, cwd)
            await self.leases.acquire(rec, canon, reason=f"{tool} (auto)", auto=True)
        except Conflict as exc:
            return deny(_refusal(exc.message, " ".join(paths)))
        except InvalidInput:
            return None  # not a lockable path: the tool reports its own error
        return None

    async def _git(self, rec: SessionRecord, command: str, cwd: str) -> dict[str, Any] | None:
        for sub, where in destructive_git(command):
            target = os.path.join(cwd, where) if where else cwd
            top = await asyncio.to_thread(toplevel, target)
            if top is None:
                continue
            try:
                await self.leases.acquire(
                    rec, [top], kind="workspace", reason=f"git {sub} (auto)", auto=True
                )
            except Conflict as exc:
                return deny(
                    f"sm: `git {sub}` rewrites the whole working tree {top}, but another "
                    f"session holds locks in it — {exc.message.removeprefix('locked: ')}. "
                    f"Ask them to finish (sm send), or work in your own worktree "
                    f"(sm spawn --worktree)."
                )
        return None


def _refusal(message: str, what: str) -> str:
    held = message.removeprefix("locked: ")
    return (
        f"sm: refused to write {what}: {held}. Another session is editing it; "
        f"message them (sm send NAME …) or wait for it with: sm lock --wait 600 {what}"
    )
