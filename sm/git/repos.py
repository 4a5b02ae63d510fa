"""The repo registry: local working repos by path, remote ones as bare mirrors.

``sm repo add`` accepts a path (a working repo), a URL (``https://…``, ``git@…``,
``file://…`` or a bare repo's path) or ``OWNER/NAME`` (GitHub). A remote is cloned bare
under ``$SM_HOME/repos/<name>.git`` with remote-tracking refs (``origin/*``), and
fetched again before each worktree is cut from it.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sm.errors import Conflict, InvalidInput, NotFound
from sm.git.run import canonical, git, out, toplevel
from sm.store import Store
from sm.store.git import RepoRecord

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_GITHUB = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Source:
    """Where a worktree is cut from: ``git_dir`` runs the git commands, ``checkout`` is
    a working tree to copy ``.worktreeinclude`` files from (None for a mirror)."""

    name: str
    git_dir: str
    checkout: str | None
    default_base: str


class Repos:
    def __init__(
        self, store: Store, repos_dir: Path, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.repos_dir = repos_dir
        self.clock = clock

    async def add(self, spec: str, name: str | None, cwd: str) -> RepoRecord:
        """Register a repo; a remote one is cloned (a network round trip). Raises
        InvalidInput for a spec that is none of the accepted forms or a bad name,
        Conflict when the name is taken, GitError when the clone fails."""
        url, local = _classify(spec, cwd)
        name = name or Path((local or url or "").rstrip("/")).name.removesuffix(".git")
        if not _NAME.fullmatch(name or ""):
            raise InvalidInput(f"invalid repo name {name!r}: use letters, digits, . _ -")
        if await self.store.git.repo(name) is not None:
            raise Conflict(f"a repo named {name!r} is already registered")
        now = self.clock()
        if local is not None:
            rec = RepoRecord(name, None, local, "local", now)
        else:
            assert url is not None
            mirror = self.repos_dir / f"{name}.git"
            if mirror.exists():
                raise Conflict(f"{mirror} exists; remove it or pick another --name")
            self.repos_dir.mkdir(parents=True, exist_ok=True)
            try:
                await git("clone", "--bare", "--quiet", url, str(mirror), cwd=self.repos_dir)
                await git("config", "remote.origin.fetch", "+refs/heads/*:refs/remotes/origin/*",
                          cwd=mirror)
                await git("fetch", "--quiet", "--prune", "origin", cwd=mirror)
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, mirror, True)
                raise
            rec = RepoRecord(name, url, str(mirror), "mirror", now, now)
        async with self.store.write() as conn:
            await self.store.git.add_repo(conn, rec)
        return rec

    async def list(self) -> list[RepoRecord]:
        return await self.store.git.repos()

    async def get(self, name: str) -> RepoRecord:
        rec = await self.store.git.repo(name)
        if rec is None:
            known = ", ".join(r.name for r in await self.store.git.repos()) or "none"
            raise NotFound(f"no repo named {name!r} (registered: {known}); add it: sm repo add")
        return rec

    async def remove(self, name: str, force: bool = False) -> RepoRecord:
        """Unregister; a mirror's clone is deleted. Raises Conflict while worktrees cut
        from it remain (unless ``force``)."""
        rec = await self.get(name)
        left = [w for w in await self.store.git.worktrees() if w.git_dir == rec.path]
        if left and not force:
            raise Conflict(f"repo {name} still has {len(left)} worktree(s); sm worktree gc "
                           "first, or --force")
        async with self.store.write() as conn:
            await self.store.git.remove_repo(conn, name)
        if rec.kind == "mirror":
            await asyncio.to_thread(shutil.rmtree, rec.path, True)
        return rec

    async def fetch(self, rec: RepoRecord) -> None:
        """Bring a mirror up to date (no-op for a local repo). Raises GitError."""
        if rec.kind != "mirror":
            return
        await git("fetch", "--quiet", "--prune", "origin", cwd=rec.path)
        async with self.store.write() as conn:
            await self.store.git.set_fetched(conn, rec.name, self.clock())

    async def source(self, cwd: str, name: str | None) -> Source:
        """What to cut a worktree from: the registered repo ``name`` (fetched first), or
        the repository holding ``cwd``. Raises NotFound, InvalidInput outside a repo."""
        if name:
            rec = await self.get(name)
            await self.fetch(rec)
            if rec.kind == "mirror":
                head = await out("symbolic-ref", "--short", "HEAD", cwd=rec.path)
                return Source(rec.name, rec.path, None, f"origin/{head}")
            return Source(rec.name, rec.path, rec.path, await _head(rec.path))
        top = await asyncio.to_thread(toplevel, cwd)
        if top is None:
            raise InvalidInput(f"{cwd} is not inside a git repository (or use --repo NAME)")
        common = await out("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=top)
        main = os.path.dirname(common) if os.path.basename(common) == ".git" else top
        return Source(Path(main).name, main, top, await _head(top))


async def _head(checkout: str) -> str:
    branch = (await git("symbolic-ref", "--short", "-q", "HEAD", cwd=checkout, ok=(0, 1))).out
    return branch.strip() or await out("rev-parse", "HEAD", cwd=checkout)


def _classify(spec: str, cwd: str) -> tuple[str | None, str | None]:
    """(url, None) for a remote, (None, path) for a local working repo."""
    path = canonical(spec, cwd)
    if os.path.isdir(path):
        top = toplevel(path)
        if top is not None:
            return None, top
        if os.path.isfile(os.path.join(path, "HEAD")):
            return path, None  # a bare repo: mirrored like any remote
        raise InvalidInput(f"{path} is a directory but not a git repository")
    if "://" in spec or spec.startswith("git@") or spec.endswith(".git"):
        return spec, None
    if _GITHUB.fullmatch(spec):
        return f"https://github.com/{spec}.git", None
    raise InvalidInput(
        f"cannot tell what {spec!r} is: expected a repo path, a URL or OWNER/NAME"
    )
