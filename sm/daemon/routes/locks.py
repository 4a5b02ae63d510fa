"""Locks: take, release, list, check (the pre-commit guard asks), per session."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import Blocked, Lease, LeaseList, LockTable, SessionLeases, Waiting
from sm.daemon.deps import CallerDep, OpsDep

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


@router.post("/locks", status_code=201, response_model=LeaseList)
async def lock(body: LockBody, ops: OpsDep, caller: CallerDep) -> LeaseList:
    """Take leases on all the paths or none (``wait``: block up to that many seconds,
    woken by releases). 409 ``conflict`` names the holders; ``deadlock`` the cycle."""
    held = await ops.locks.lock(caller, body.paths, body.cwd, reason=body.reason, ttl=body.ttl,
                                wait=body.wait, workspace=body.workspace)
    return LeaseList(items=[Lease.of(h) for h in held])


@router.post("/locks/release", response_model=LeaseList)
async def unlock(body: UnlockBody, ops: OpsDep, caller: CallerDep) -> LeaseList:
    """Release the caller's leases (all of them without paths). ``force`` releases
    whoever holds the paths: for the operator, or a session managing the holder."""
    held = await ops.locks.unlock(caller, body.paths, body.cwd, force=body.force)
    return LeaseList(items=[Lease.of(h) for h in held])


@router.get("/locks", response_model=LockTable)
async def list_locks(
    ops: OpsDep, caller: CallerDep, session: str | None = None, under: str | None = None,
) -> LockTable:
    """Current leases (of one session, or overlapping a path) and who waits for what."""
    table = await ops.locks.table(caller, session, under)
    return LockTable(items=[Lease.of(h) for h in table.items],
                     waiting=[Waiting.model_validate(w) for w in table.waiting])


@router.post("/locks/check", response_model=Blocked)
async def check(body: CheckBody, ops: OpsDep, caller: CallerDep) -> Blocked:
    """Which of ``paths`` other sessions hold (the git pre-commit guard asks this)."""
    return Blocked(blocked=[Lease.of(h) for h in await ops.locks.check(caller, body.paths,
                                                                        body.cwd)])


@router.get("/sessions/{ref}/locks", response_model=SessionLeases)
async def session_locks(ref: str, ops: OpsDep, caller: CallerDep) -> SessionLeases:
    """The leases a session holds (for ``sm status`` / ``sm others``)."""
    rec = await ops.sessions.get(caller, ref)
    held = await ops.locks.of_session(caller, rec.id)
    return SessionLeases(session=rec.id, items=[Lease.of(h) for h in held])
