"""Locks: take, release, list, check (the pre-commit guard asks), per session."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.daemon.deps import CallerDep, ServicesDep
from sm.daemon.services import Services
from sm.errors import InvalidInput, Refused
from sm.git.run import toplevel
from sm.store.locks import Kind, Lease

router = APIRouter(tags=["locks"])


class LockBody(BaseModel):
    paths: list[str] = Field(default_factory=list)
    cwd: str
    reason: str = ""
    ttl: float | None = None
    wait: float = Field(0.0, ge=0, le=86400)
    workspace: bool = False


class UnlockBody(BaseModel):
    paths: list[str] = Field(default_factory=list)
    cwd: str = "/"
    force: bool = False


class CheckBody(BaseModel):
    paths: list[str]
    cwd: str


async def _public(svc: Services, leases: list[Lease]) -> list[dict[str, Any]]:
    labels = await svc.leases.labels(lease.session_id for lease in leases)
    return [lease.public(labels[lease.session_id]) for lease in leases]


@router.post("/locks", status_code=201)
async def lock(body: LockBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Take leases on all the paths or none (``wait``: block up to that many seconds,
    woken by releases). 409 ``conflict`` names the holders; ``deadlock`` the cycle."""
    if caller is None:
        raise Refused("a lock is held by a session: run sm lock inside one (SM_SESSION_TOKEN)")
    if body.workspace:
        top = await asyncio.to_thread(toplevel, body.cwd)
        if top is None:
            raise InvalidInput(f"{body.cwd} is not inside a git repository (--workspace)")
        paths, kind = [top], "workspace"
    else:
        paths, kind = await svc.leases.canonical(body.paths, body.cwd), "path"
    granted = await svc.leases.acquire(
        caller, paths, kind=cast(Kind, kind), reason=body.reason, ttl=body.ttl, wait=body.wait,
    )
    return {"items": await _public(svc, granted)}


@router.post("/locks/release")
async def unlock(body: UnlockBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Release the caller's leases (all of them without paths). ``force`` releases
    whoever holds the paths: for the operator, or a session managing the holder."""
    paths = await svc.leases.canonical(body.paths, body.cwd) if body.paths else None
    by = caller.id if caller else "operator"
    if body.force:
        if paths is None:
            raise InvalidInput("--force needs the paths to unlock")
        if caller is not None:
            for lease in svc.leases.leases():
                if lease.path in paths:
                    await svc.sessions.check_may_manage(caller, await svc.sessions.get(
                        lease.session_id))
        released = await svc.leases.force_release(paths, by)
    else:
        if caller is None:
            raise InvalidInput("the operator holds no locks; to break one: sm unlock --force PATH")
        released = await svc.leases.release(caller.id, paths, by)
    return {"items": await _public(svc, released)}


@router.get("/locks")
async def list_locks(
    svc: ServicesDep, session: str | None = None, under: str | None = None,
) -> dict[str, Any]:
    """Current leases (of one session, or overlapping a path) and who waits for what."""
    session_id = (await svc.sessions.resolve(session)).id if session else None
    items = svc.leases.leases(session_id, under)
    waiting = svc.leases.waiting()
    labels = await svc.leases.labels(w["session_id"] for w in waiting)
    return {
        "items": await _public(svc, items),
        "waiting": [{**w, "holder": labels[w["session_id"]]} for w in waiting],
    }


@router.post("/locks/check")
async def check(body: CheckBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Which of ``paths`` other sessions hold (the git pre-commit guard asks this)."""
    paths = await svc.leases.canonical(body.paths, body.cwd) if body.paths else []
    blocked = svc.leases.blocking(caller.id if caller else "", paths)
    return {"blocked": await _public(svc, blocked)}


@router.get("/sessions/{ref}/locks")
async def session_locks(ref: str, svc: ServicesDep) -> dict[str, Any]:
    """The leases a session holds (for ``sm status`` / ``sm others``)."""
    rec = await svc.sessions.resolve(ref)
    return {"session": rec.id, "items": await _public(svc, svc.leases.leases(rec.id))}
