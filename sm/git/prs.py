"""Pushing a session's branch and opening its pull request with the GitHub CLI.

``open`` commits leftovers (when asked), pushes the branch to ``origin``, then reuses
the PR ``gh pr view`` finds or opens one with ``gh pr create``. Without ``gh`` (or
without its login) the branch is still pushed and the answer says so plainly.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from typing import Any

from sm.errors import InvalidInput, Unavailable
from sm.git.run import git, out, run
from sm.store import Store
from sm.store.git import PrRecord
from sm.store.sessions import SessionRecord

_GITHUB = re.compile(r"github\.com[:/]+([^/\s]+)/([^/\s]+?)(?:\.git)?/?$")
_URL = re.compile(r"https?://\S+")


class Prs:
    def __init__(
        self, store: Store, gh: str = "gh", clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.gh = gh
        self.clock = clock

    async def where(self, rec: SessionRecord) -> tuple[str, str | None]:
        """The session's checkout (its worktree, else its cwd) and its recorded base."""
        wt = await self.store.git.worktree(rec.id)
        if wt is not None and wt.removed_at is None:
            return wt.path, wt.base
        return rec.cwd, None

    async def status(self, rec: SessionRecord) -> dict[str, Any]:
        """The branch and the uncommitted files ``open`` would commit."""
        cwd, _ = await self.where(rec)
        porcelain = await out("status", "--porcelain", "--untracked-files=all", cwd=cwd)
        return {
            "session": rec.label, "cwd": cwd, "branch": await _branch(cwd),
            "dirty": [line[3:] for line in porcelain.splitlines() if line.strip()],
        }

    async def open(
        self,
        rec: SessionRecord,
        *,
        title: str | None = None,
        body: str | None = None,
        draft: bool = False,
        commit: bool = True,
        pull_request: bool = True,
    ) -> dict[str, Any]:
        """Commit leftovers (if ``commit``), push, open or reuse the PR (unless
        ``pull_request`` is False: then only push); store its URL.
        Raises InvalidInput (detached HEAD, on the base branch, no ``origin``), GitError
        (commit or push refused). A missing or logged-out gh is not an error: the
        answer's ``note`` says so and ``pr_url`` is None."""
        cwd, recorded_base = await self.where(rec)
        branch = await _branch(cwd)
        remote_url = (await git("remote", "get-url", "origin", cwd=cwd, ok=(0, 2))).out.strip()
        if not remote_url:
            raise InvalidInput(f"{cwd} has no remote 'origin' to push {branch} to")
        base = _short(recorded_base) if recorded_base else await _default_branch(cwd)
        if branch == base:
            raise InvalidInput(f"{cwd} is on the base branch {base}; a PR needs its own branch")
        committed = None
        if commit and (await out("status", "--porcelain", cwd=cwd)):
            await git("add", "-A", cwd=cwd)
            await git("commit", "-q", "-m", f"{rec.label}: work in progress (committed by sm pr)",
                      cwd=cwd, env=await _identity(cwd))
            committed = await out("rev-parse", "HEAD", cwd=cwd)
        await git("push", "--quiet", "-u", "origin", f"HEAD:refs/heads/{branch}", cwd=cwd)
        url, reused, note = None, False, None
        if pull_request:
            url, reused, note = await self._pr(cwd, branch, base, title, body, draft, rec)
        async with self.store.write() as conn:
            await self.store.git.set_pr(conn, PrRecord(rec.id, url, branch, base, self.clock()))
            await self.store.events.append(conn, self.clock(), rec.id, "pr", {
                "branch": branch, "base": base, "url": url, "reused": reused,
                "committed": committed, "note": note,
            })
        return {
            "session": rec.label, "branch": branch, "base": base, "remote": remote_url,
            "pushed": True, "committed": committed, "pr_url": url, "reused": reused,
            "compare": compare_link(remote_url, base, branch), "note": note,
        }

    async def _pr(
        self, cwd: str, branch: str, base: str, title: str | None, body: str | None,
        draft: bool, rec: SessionRecord,
    ) -> tuple[str | None, bool, str | None]:
        gh = shutil.which(self.gh)
        if gh is None:
            return None, False, (f"gh (the GitHub CLI) is not installed: {branch} was pushed, "
                                 "but no PR was opened")
        auth = await run([gh, "auth", "status"], cwd=cwd, timeout=60)
        if auth.code != 0:
            return None, False, (f"gh is not logged in (run: gh auth login): {branch} was "
                                 "pushed, but no PR was opened")
        view = await run([gh, "pr", "view", branch, "--json", "url", "-q", ".url"], cwd=cwd,
                         timeout=60)
        found = _URL.search(view.out) if view.code == 0 else None
        if found:
            return found.group(), True, None
        subject = await out("log", "-1", "--format=%s", cwd=cwd)
        argv = [gh, "pr", "create", "--head", branch, "--base", base,
                "--title", title or subject or branch,
                "--body", body or f"Opened by sm for session {rec.label} ({rec.id})."]
        if draft:
            argv.append("--draft")
        made = await run(argv, cwd=cwd, timeout=120)
        created = _URL.search(made.out)
        if made.code != 0 or not created:
            reason = (made.err or made.out).strip().splitlines()[-1:] or [f"exit {made.code}"]
            raise Unavailable(f"gh pr create failed after {branch} was pushed: {reason[0]}")
        return created.group(), False, None


def compare_link(remote_url: str, base: str, branch: str) -> str | None:
    """GitHub's compare page for ``base...branch`` (None for other hosts)."""
    m = _GITHUB.search(remote_url)
    if m is None:
        return None
    return f"https://github.com/{m.group(1)}/{m.group(2)}/compare/{base}...{branch}?expand=1"


def _short(ref: str) -> str:
    for prefix in ("refs/remotes/origin/", "origin/", "refs/heads/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


async def _branch(cwd: str) -> str:
    name = (await git("symbolic-ref", "--short", "-q", "HEAD", cwd=cwd, ok=(0, 1))).out.strip()
    if not name:
        raise InvalidInput(f"{cwd} is on a detached HEAD; check out a branch first")
    return name


async def _default_branch(cwd: str) -> str:
    ref = (await git("symbolic-ref", "-q", "refs/remotes/origin/HEAD", cwd=cwd,
                     ok=(0, 1))).out.strip()
    if ref:
        return _short(ref)
    for name in ("main", "master"):
        probe = await git("rev-parse", "--verify", "-q", f"refs/remotes/origin/{name}",
                          cwd=cwd, ok=(0, 1))
        if probe.code == 0:
            return name
    return "main"


async def _identity(cwd: str) -> dict[str, str]:
    """A committer identity when the repo has none configured."""
    name = (await git("config", "user.name", cwd=cwd, ok=(0, 1))).out.strip()
    email = (await git("config", "user.email", cwd=cwd, ok=(0, 1))).out.strip()
    env = {}
    if not name:
        env["GIT_AUTHOR_NAME"] = env["GIT_COMMITTER_NAME"] = "sm"
    if not email:
        env["GIT_AUTHOR_EMAIL"] = env["GIT_COMMITTER_EMAIL"] = "sm@localhost"
    return env
