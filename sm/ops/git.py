"""Worktree, repository and pull-request operations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sm.core import refs
from sm.core.caller import Caller
from sm.git.prs import Prs
from sm.git.repos import Repos
from sm.git.worktrees import Worktrees
from sm.ops.authz import Authz
from sm.store import Store
from sm.store.git import PrRecord, RepoRecord


@dataclass(frozen=True)
class SessionWorktree:
    worktree: dict[str, Any] | None
    pr: PrRecord | None


class GitOps:
    def __init__(self, store: Store, worktrees: Worktrees, repos: Repos, prs: Prs,
                 authz: Authz) -> None:
        self.store = store
        self.worktrees = worktrees
        self.repos = repos
        self.prs = prs
        self.authz = authz

    async def list_worktrees(self, caller: Caller) -> list[dict[str, Any]]:
        """Each session worktree with its session, branch, dirty/unpushed counts, size."""
        return await self.worktrees.list()

    async def gc(self, caller: Caller, force: str | None = None) -> dict[str, Any]:
        """Remove the ended sessions' clean, fully pushed worktrees; ``force`` one of
        them whatever its state (the operator, or a session managing its owner)."""
        if force:
            wt = await self.worktrees.find(force)
            await self.authz.check_manage(caller, await refs.session(self.store, wt.session_id),
                                          "remove the worktree of")
        return await self.worktrees.gc(force)

    async def conflicts(self, caller: Caller) -> dict[str, Any]:
        return await self.worktrees.conflicts()

    async def session_worktree(self, caller: Caller, ref: str) -> SessionWorktree:
        rec = await refs.session(self.store, ref)
        wt = await self.store.git.worktree(rec.id)
        return SessionWorktree(await self.worktrees.describe(wt) if wt else None,
                               await self.store.git.pr(rec.id))

    async def pr_status(self, caller: Caller, ref: str) -> dict[str, Any]:
        """What ``sm pr`` would push: the branch and the uncommitted files."""
        return await self.prs.status(await refs.session(self.store, ref))

    async def open_pr(self, caller: Caller, ref: str, *, title: str | None = None,
                      body: str | None = None, draft: bool = False, commit: bool = True
                      ) -> dict[str, Any]:
        """Commit leftovers (``commit``), push the branch, open or reuse its PR."""
        rec = await refs.session(self.store, ref)
        await self.authz.check_manage(caller, rec, "open a PR for")
        return await self.prs.open(rec, title=title, body=body, draft=draft, commit=commit)

    async def repos_list(self, caller: Caller) -> list[RepoRecord]:
        return await self.repos.list()

    async def repo_add(self, caller: Caller, spec: str, name: str | None = None,
                       cwd: str = "/") -> RepoRecord:
        """Register a repo (a remote one is mirrored first). The operator only."""
        await self.authz.check_operator(caller, "registering a repository")
        return await self.repos.add(spec, name, cwd)

    async def repo_remove(self, caller: Caller, name: str, force: bool = False) -> RepoRecord:
        """The operator only."""
        await self.authz.check_operator(caller, "removing a repository")
        return await self.repos.remove(name, force)
