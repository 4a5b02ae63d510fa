"""Worktrees, the repo registry and pull requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sm.api.models import Repo, RepoList, SessionWorktreeOut
from sm.daemon.deps import CallerDep, OpsDep

router = APIRouter(tags=["worktrees"])


class GcBody(BaseModel):
    force: str | None = None


class RepoBody(BaseModel):
    spec: str
    name: str | None = None
    cwd: str = "/"


class PrBody(BaseModel):
    title: str | None = None
    body: str | None = None
    draft: bool = False
    commit: bool = True


class Report(BaseModel):
    items: list[dict[str, Any]]


@router.get("/worktrees", response_model=Report)
async def list_worktrees(ops: OpsDep, caller: CallerDep) -> Report:
    """Each session worktree with its session, branch, dirty/unpushed counts and size."""
    return Report(items=await ops.git.list_worktrees(caller))


@router.post("/worktrees/gc")
async def gc(body: GcBody, ops: OpsDep, caller: CallerDep) -> dict[str, Any]:
    """Remove the ended sessions' clean, fully pushed/merged worktrees; list the rest
    with the reason each is kept."""
    return await ops.git.gc(caller, body.force)


@router.get("/worktrees/conflicts")
async def conflicts(ops: OpsDep, caller: CallerDep) -> dict[str, Any]:
    """Predicted textual conflicts between live worktrees and with their bases."""
    return await ops.git.conflicts(caller)


@router.get("/sessions/{ref}/worktree", response_model=SessionWorktreeOut)
async def session_worktree(ref: str, ops: OpsDep, caller: CallerDep) -> SessionWorktreeOut:
    return SessionWorktreeOut.of(await ops.git.session_worktree(caller, ref))


@router.get("/sessions/{ref}/pr")
async def pr_status(ref: str, ops: OpsDep, caller: CallerDep) -> dict[str, Any]:
    """What ``sm pr`` would push: the branch and the uncommitted files."""
    return await ops.git.pr_status(caller, ref)


@router.post("/sessions/{ref}/pr")
async def open_pr(ref: str, body: PrBody, ops: OpsDep, caller: CallerDep) -> dict[str, Any]:
    """Commit leftovers (``commit``), push the branch, open or reuse its PR."""
    return await ops.git.open_pr(caller, ref, title=body.title, body=body.body,
                                 draft=body.draft, commit=body.commit)


@router.get("/repos", response_model=RepoList)
async def list_repos(ops: OpsDep, caller: CallerDep) -> RepoList:
    return RepoList(items=[Repo.of(r) for r in await ops.git.repos_list(caller)])


@router.post("/repos", status_code=201, response_model=Repo)
async def add_repo(body: RepoBody, ops: OpsDep, caller: CallerDep) -> Repo:
    """Register a repo; a remote one is mirrored (cloned bare) first."""
    return Repo.of(await ops.git.repo_add(caller, body.spec, body.name, body.cwd))


@router.post("/repos/{name}/remove", response_model=Repo)
async def remove_repo(name: str, ops: OpsDep, caller: CallerDep, force: bool = False) -> Repo:
    return Repo.of(await ops.git.repo_remove(caller, name, force))
