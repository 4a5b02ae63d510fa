"""Worktrees, the repo registry and pull requests."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sm.daemon.deps import CallerDep, ServicesDep

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


@router.get("/worktrees")
async def list_worktrees(svc: ServicesDep) -> dict[str, Any]:
    """Each session worktree with its session, branch, dirty/unpushed counts and size."""
    return {"items": await svc.worktrees.list()}


@router.post("/worktrees/gc")
async def gc(body: GcBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Remove the ended sessions' clean, fully pushed/merged worktrees; list the rest
    with the reason each is kept."""
    if body.force and caller is not None:
        wt = await svc.worktrees.find(body.force)
        await svc.sessions.check_may_manage(caller, await svc.sessions.get(wt.session_id))
    return await svc.worktrees.gc(body.force)


@router.get("/worktrees/conflicts")
async def conflicts(svc: ServicesDep) -> dict[str, Any]:
    """Predicted textual conflicts between live worktrees and with their bases."""
    return await svc.worktrees.conflicts()


@router.get("/sessions/{ref}/worktree")
async def session_worktree(ref: str, svc: ServicesDep) -> dict[str, Any]:
    rec = await svc.sessions.resolve(ref)
    wt = await svc.store.git.worktree(rec.id)
    pr = await svc.store.git.pr(rec.id)
    return {
        "worktree": await svc.worktrees.describe(wt) if wt else None,
        "pr": pr.public() if pr else None,
    }


@router.get("/sessions/{ref}/pr")
async def pr_status(ref: str, svc: ServicesDep) -> dict[str, Any]:
    """What ``sm pr`` would push: the branch and the uncommitted files."""
    return await svc.prs.status(await svc.sessions.resolve(ref))


@router.post("/sessions/{ref}/pr")
async def open_pr(ref: str, body: PrBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Commit leftovers (``commit``), push the branch, open or reuse its PR."""
    rec = await svc.sessions.resolve(ref)
    await svc.sessions.check_may_manage(caller, rec)
    return await svc.prs.open(rec, title=body.title, body=body.body, draft=body.draft,
                              commit=body.commit)


@router.get("/repos")
async def list_repos(svc: ServicesDep) -> dict[str, Any]:
    return {"items": [r.public() for r in await svc.repos.list()]}


@router.post("/repos", status_code=201)
async def add_repo(body: RepoBody, svc: ServicesDep) -> dict[str, Any]:
    """Register a repo; a remote one is mirrored (cloned bare) first."""
    return (await svc.repos.add(body.spec, body.name, body.cwd)).public()


@router.post("/repos/{name}/remove")
async def remove_repo(name: str, svc: ServicesDep, force: bool = False) -> dict[str, Any]:
    return (await svc.repos.remove(name, force)).public()
