"""Session worktrees: cut, list, garbage-collect, and predict conflicts between them.

A worktree lives outside the repo at ``<root>/<repo>/<session>`` on a branch named
after the session (``<prefix><session>``). Files the repo lists in ``.worktreeinclude``
(gitignored things like ``.env``) are copied in, then the repo's setup command runs
(``setup:`` in ``.sm/worktree.yaml``, else the ``worktree.setup`` config key).

A worktree is never deleted with uncommitted changes or with commits that neither
its base nor any remote has, unless forced by name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import glob
import itertools
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sm.errors import Conflict, InvalidInput, NotFound, SmError
from sm.git.repos import Repos, Source
from sm.git.run import GitError, check_branch, check_rev, disk_usage, git, out, run
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.git import WorktreeRecord
from sm.vocab import EventKind, SessionState

log = logging.getLogger("sm.worktrees")
TURN_ENDS = ("Stop", "agent-turn-complete")


@dataclass(frozen=True)
class Status:
    exists: bool
    dirty: int  # changed or untracked files (ignored ones do not count)
    unpushed: int  # commits on HEAD that neither the base nor any remote has
    head: str


class Worktrees:
    LISTENS = (EventKind.STATE, EventKind.TASK_COMPLETE)  # the kinds ``on_event`` looks at

    def __init__(
        self,
        store: Store,
        repos: Repos,
        *,
        root: Path,
        branch_prefix: str = "sm/",
        setup: str = "",
        setup_timeout: float = 600.0,
        notify: Callable[[str, str], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.notify = notify  # (session id, text): tell a worker something once
        self.repos = repos
        self.root = root
        self.branch_prefix = branch_prefix
        self.setup = setup
        self.setup_timeout = setup_timeout
        self.clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    # -- cutting --------------------------------------------------------------------------
    async def prepare(
        self, session_id: str, name: str | None, cwd: Path, options: Mapping[str, Any]
    ) -> Path:
        """Cut the session's worktree and return it (the agent's cwd). Writes the
        worktree row. Raises InvalidInput (no repo, unknown base), NotFound (repo name),
        Conflict (branch checked out elsewhere, setup failed: the worktree is removed)."""
        if name and any(r.is_live and r.name == name for r in await self.store.sessions.find(name)):
            raise Conflict(f"the name {name!r} is taken by a live session")
        branch = _opt(options, "branch")
        if branch:
            await check_branch(branch)
        if _opt(options, "base"):
            check_rev(str(_opt(options, "base")))
        source = await self.repos.source(str(cwd), _opt(options, "repo"))
        label = name or session_id
        path = self.root / source.name / label
        if path.exists():
            path = self.root / source.name / f"{label}-{session_id}"
        base = await self._base(source, _opt(options, "base"))
        base_commit = await self._commit(source.git_dir, base)
        created = True
        if branch and await _has_branch(source.git_dir, branch):
            created = False
            add = ["worktree", "add", "--quiet", "--end-of-options", str(path), branch]
        else:
            if not branch:
                branch = self.branch_prefix + label
                if await _has_branch(source.git_dir, branch):
                    branch = f"{branch}-{session_id}"
            add = ["worktree", "add", "--quiet", "--no-track", "-b", branch, "--end-of-options",
                   str(path), base]
        path.parent.mkdir(parents=True, exist_ok=True)
        await git(*add, cwd=source.git_dir)
        try:
            if source.checkout is not None:
                await asyncio.to_thread(copy_included, Path(source.checkout), path)
            await self._run_setup(source, path)
        except BaseException:
            await git("worktree", "remove", "--force", str(path), cwd=source.git_dir, ok=(0, 128))
            if created:
                await git("branch", "-D", "--end-of-options", branch, cwd=source.git_dir,
                          ok=(0, 1))
            raise
        rec = WorktreeRecord(
            session_id=session_id, path=str(path), repo=source.name, git_dir=source.git_dir,
            branch=branch, base=base, base_commit=base_commit, created_branch=created,
            dirty_reported=False, created_at=self.clock(),
        )
        async with self.store.write() as conn:
            await self.store.git.add_worktree(conn, rec)
        return path

    async def _base(self, source: Source, base: str | None) -> str:
        if not base:
            return source.default_base
        if source.checkout is None and not base.startswith("origin/"):
            probe = await git("rev-parse", "--verify", "-q", "--end-of-options",
                              f"refs/remotes/origin/{base}",
                              cwd=source.git_dir, ok=(0, 1))
            if probe.code == 0:
                return f"origin/{base}"
        return base

    async def _commit(self, git_dir: str, ref: str) -> str:
        probe = await git("rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}",
                          cwd=git_dir, ok=(0, 1))
        if probe.code != 0:
            raise InvalidInput(f"unknown base {ref!r} in {git_dir}")
        return probe.out.strip()

    async def _run_setup(self, source: Source, path: Path) -> None:
        command = await asyncio.to_thread(setup_command, path, source.checkout) or self.setup
        if not command:
            return
        result = await run(["/bin/sh", "-c", command], cwd=path,
                           env={"SM_WORKTREE": str(path)}, timeout=self.setup_timeout)
        if result.code != 0:
            tail = (result.err or result.out).strip().splitlines()[-3:]
            raise Conflict(f"worktree setup {command!r} failed (exit {result.code}): "
                           + " | ".join(tail))

    # -- reading ----------------------------------------------------------------------------
    async def status(self, wt: WorktreeRecord) -> Status:
        """Dirty files and unpushed commits (two git round trips)."""
        if not Path(wt.path).is_dir():
            return Status(False, 0, 0, "")
        porcelain = await git("status", "--porcelain", "--untracked-files=all", cwd=wt.path)
        head = await out("rev-parse", "HEAD", cwd=wt.path)
        base = wt.base if (await git("rev-parse", "--verify", "-q", "--end-of-options", wt.base,
                                     cwd=wt.path,
                                     ok=(0, 1))).code == 0 else wt.base_commit
        ahead = await out("rev-list", "--count", "HEAD", "--not", base, "--remotes", cwd=wt.path)
        dirty = len([line for line in porcelain.out.splitlines() if line.strip()])
        return Status(True, dirty, int(ahead or 0), head)

    async def describe(self, wt: WorktreeRecord, size: bool = True) -> dict[str, Any]:
        rec = await self.store.sessions.get(wt.session_id)
        st = await self.status(wt)
        data: dict[str, Any] = dataclasses.asdict(wt)
        data.update({
            "session": rec.label if rec else wt.session_id,
            "state": rec.state if rec else "unknown",
            "exists": st.exists, "dirty": st.dirty, "unpushed": st.unpushed,
            "size": await asyncio.to_thread(disk_usage, wt.path) if size and st.exists else 0,
        })
        return data

    async def list(self) -> list[dict[str, Any]]:
        return [await self.describe(wt) for wt in await self.store.git.worktrees()]

    async def find(self, ref: str) -> WorktreeRecord:
        """A live worktree row by session id, name, path or branch. Raises NotFound."""
        for wt in await self.store.git.worktrees():
            rec = await self.store.sessions.get(wt.session_id)
            names = {wt.session_id, wt.path, wt.branch, rec.name if rec else None}
            if ref in names or os.path.realpath(ref) == wt.path:
                return wt
        raise NotFound(f"no worktree for {ref!r} (see: sm worktree list)")

    # -- garbage collection ----------------------------------------------------------------
    async def gc(self, force: str | None = None) -> dict[str, Any]:
        """Remove the worktrees of ended sessions that hold no uncommitted change and no
        commit missing from their base and every remote; ``force`` names one to remove
        anyway (never a live session's). Returns what was removed and what was kept, why."""
        forced = await self.find(force) if force else None
        removed, kept = [], []
        for wt in await self.store.git.worktrees():
            rec = await self.store.sessions.get(wt.session_id)
            st = await self.status(wt)
            info = {"session": rec.label if rec else wt.session_id, "path": wt.path,
                    "branch": wt.branch}
            is_forced = forced is not None and forced.session_id == wt.session_id
            reason = None
            if rec is not None and rec.is_live:
                reason = f"session {rec.label} is {rec.state}"
                if is_forced:
                    raise Conflict(f"{wt.path} belongs to live session {rec.label}; kill it first")
            elif st.dirty and not is_forced:
                reason = f"{st.dirty} uncommitted change(s)"
            elif st.unpushed and not is_forced:
                reason = f"{st.unpushed} commit(s) on no remote and not in {wt.base}"
            size = await asyncio.to_thread(disk_usage, wt.path) if st.exists else 0
            if reason is not None:
                kept.append({**info, "reason": reason, "size": size})
                continue
            await self._remove(wt, st, forced=is_forced)
            removed.append({**info, "freed": size, "forced": is_forced})
        return {
            "removed": removed, "kept": kept,
            "freed": sum(r["freed"] for r in removed),
            "reclaimable": sum(k["size"] for k in kept),
        }

    async def _remove(self, wt: WorktreeRecord, st: Status, forced: bool) -> None:
        if st.exists:
            args = ["worktree", "remove", *(["--force", "--force"] if forced else []), wt.path]
            await git(*args, cwd=wt.git_dir)
        else:
            await git("worktree", "prune", cwd=wt.git_dir, ok=(0, 128))
        if wt.created_branch and st.unpushed == 0:
            await git("branch", "-D", "--end-of-options", wt.branch, cwd=wt.git_dir, ok=(0, 1))
        async with self.store.write() as conn:
            await self.store.git.update_worktree(conn, wt.session_id, removed_at=self.clock())

    # -- end of a task ------------------------------------------------------------------------
    async def on_event(self, ev: EventRecord) -> None:
        """An EventBus listener: when a turn ends or a task completes, check that
        session's worktree in the background (git must not hold up the bus)."""
        if ev.session_id is None or self.notify is None:
            return
        turn_ended = ev.kind == EventKind.STATE and ev.payload.get("to") == SessionState.IDLE \
            and ev.payload.get("signal") in TURN_ENDS
        if turn_ended or ev.kind == EventKind.TASK_COMPLETE:
            task = asyncio.create_task(self._tell_if_dirty(ev.session_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _tell_if_dirty(self, session_id: str) -> None:
        try:
            text = await self.dirty_notice(session_id)
        except SmError as exc:
            log.debug("worktree check of %s failed: %s", session_id, exc.message)
            return
        if text is not None and self.notify is not None:
            await self.notify(session_id, text)

    async def dirty_notice(self, session_id: str) -> str | None:
        """The one-time notice for a worker whose worktree is dirty at the end of a
        turn (None when clean or already told; told again only after it was clean)."""
        wt = await self.store.git.worktree(session_id)
        if wt is None or wt.removed_at is not None:
            return None
        st = await self.status(wt)
        if st.dirty and not wt.dirty_reported:
            async with self.store.write() as conn:
                await self.store.git.update_worktree(conn, session_id, dirty_reported=1)
            return (f"your worktree {wt.path} (branch {wt.branch}) has {st.dirty} uncommitted "
                    f"change(s): commit them, or open a PR with: sm pr")
        if not st.dirty and wt.dirty_reported:
            async with self.store.write() as conn:
                await self.store.git.update_worktree(conn, session_id, dirty_reported=0)
        return None

    # -- conflicts ----------------------------------------------------------------------------
    async def conflicts(self) -> dict[str, Any]:
        """Textual conflicts between the live sessions' worktrees (their working state,
        uncommitted changes included) and with each one's base, from ``git merge-tree``.
        Writes objects to the repo, never touches a worktree, index or ref."""
        live: list[tuple[WorktreeRecord, str, str]] = []
        for wt in await self.store.git.worktrees():
            rec = await self.store.sessions.get(wt.session_id)
            if rec is not None and rec.is_live and Path(wt.path).is_dir():
                live.append((wt, rec.label, await snapshot(wt.path)))
        found: list[dict[str, Any]] = []
        checked = 0
        for (a, la, ca), (b, lb, cb) in itertools.combinations(live, 2):
            if a.git_dir != b.git_dir:
                continue
            checked += 1
            files = await merge_conflicts(a.git_dir, ca, cb)
            if files:
                found.append({"a": la, "b": lb, "branches": [a.branch, b.branch], "files": files})
        for wt, label, commit in live:
            checked += 1
            files = await merge_conflicts(wt.git_dir, wt.base, commit)
            if files:
                found.append({"a": label, "b": wt.base, "branches": [wt.branch, wt.base],
                              "files": files})
        return {"worktrees": [label for _, label, _ in live], "checked": checked,
                "conflicts": found}


async def snapshot(path: str) -> str:
    """A commit of the worktree as it is on disk (tracked and untracked, not ignored),
    made through a throwaway index; HEAD itself when nothing changed."""
    head = await out("rev-parse", "HEAD", cwd=path)
    index = await out("rev-parse", "--path-format=absolute", "--git-path", "index", cwd=path)
    fd, tmp = tempfile.mkstemp(prefix="sm-index-")
    os.close(fd)
    try:
        if os.path.exists(index):
            # copy2 keeps the index's mtime: git's racy-entry check depends on it
            await asyncio.to_thread(shutil.copy2, index, tmp)
        else:
            os.unlink(tmp)
        env = {"GIT_INDEX_FILE": tmp}
        await git("add", "-A", cwd=path, env=env)
        tree = await out("write-tree", cwd=path, env=env)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if tree == await out("rev-parse", "HEAD^{tree}", cwd=path):
        return head
    return await out("commit-tree", tree, "-p", head, "-m", "sm snapshot", cwd=path,
                     env={"GIT_AUTHOR_NAME": "sm", "GIT_AUTHOR_EMAIL": "sm@localhost",
                          "GIT_COMMITTER_NAME": "sm", "GIT_COMMITTER_EMAIL": "sm@localhost"})


async def merge_conflicts(git_dir: str, a: str, b: str) -> list[str]:
    """Files that would conflict merging ``a`` and ``b`` (empty: merges cleanly)."""
    result = await git("merge-tree", "--write-tree", "--name-only", "--no-messages", a, b,
                       cwd=git_dir, ok=(0, 1))
    if result.code == 0:
        return []
    lines = result.out.splitlines()[1:]
    files = lines[: lines.index("")] if "" in lines else lines
    return list(dict.fromkeys(files))


def copy_included(source: Path, dest: Path) -> list[str]:
    """Copy what ``source/.worktreeinclude`` names (glob patterns, one a line, ``#``
    comments) from the checkout into the new worktree, keeping files already there."""
    spec = source / ".worktreeinclude"
    if not spec.is_file():
        return []
    copied = []
    for line in spec.read_text(encoding="utf-8", errors="replace").splitlines():
        pattern = line.strip().lstrip("/")
        if not pattern or pattern.startswith("#"):
            continue
        for match in sorted(glob.glob(pattern, root_dir=source, recursive=True,
                                      include_hidden=True)):
            if match.split(os.sep)[0] == ".git":
                continue
            src, dst = source / match, dest / match
            if dst.exists():
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, symlinks=True)
            else:
                shutil.copy2(src, dst, follow_symlinks=False)
            copied.append(match)
    return copied


def setup_command(worktree: Path, checkout: str | None) -> str:
    """``setup:`` from ``.sm/worktree.yaml`` in the new worktree (or the checkout)."""
    for root in (worktree, Path(checkout) if checkout else None):
        if root is None or not (root / ".sm" / "worktree.yaml").is_file():
            continue
        import yaml

        try:
            doc = yaml.safe_load((root / ".sm" / "worktree.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInput(f"{root}/.sm/worktree.yaml: {exc}") from None
        if isinstance(doc, dict) and doc.get("setup"):
            return str(doc["setup"])
    return ""


async def _has_branch(git_dir: str, branch: str) -> bool:
    probe = await git("rev-parse", "--verify", "-q", "--end-of-options", f"refs/heads/{branch}",
                      cwd=git_dir, ok=(0, 1))
    return probe.code == 0


def _opt(options: Mapping[str, Any], key: str) -> str | None:
    value = options.get(key)
    return str(value) if value else None


__all__ = ["GitError", "Status", "Worktrees", "copy_included", "merge_conflicts", "snapshot"]
