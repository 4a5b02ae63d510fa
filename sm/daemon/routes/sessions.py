from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.core.sessions import SpawnRequest
from sm.daemon.deps import CallerDep, ServicesDep
from sm.errors import InvalidInput

router = APIRouter(tags=["sessions"])


class SpawnBody(BaseModel):
    provider: str
    prompt: str = ""
    name: str | None = None
    cwd: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    worktree: dict[str, Any] | None = None  # {branch, base, repo}: start in a new worktree


class NameBody(BaseModel):
    name: str


@router.post("/sessions", status_code=201)
async def spawn(body: SpawnBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Spawn an agent. The caller (if a session) becomes its parent."""
    req = SpawnRequest(body.provider, body.prompt, body.name, body.cwd, body.options,
                       body.worktree)
    rec = await svc.sessions.spawn(req, caller)
    return rec.public()


@router.get("/sessions")
async def list_sessions(
    svc: ServicesDep, live: bool = False, parent: str | None = None,
    after: str | None = None, limit: int = 500,
) -> dict[str, Any]:
    """Sessions in creation order, cursor-paginated by id."""
    parent_id = (await svc.sessions.resolve(parent)).id if parent else None
    limit = max(1, min(limit, 1000))
    rows = await svc.store.sessions.list(
        live_only=live, parent_id=parent_id, after=after, limit=limit + 1
    )
    page = rows[:limit]
    return {
        "items": [r.public() for r in page],
        "next": page[-1].id if len(rows) > limit else None,
    }


@router.get("/me")
async def me(caller: CallerDep) -> dict[str, Any]:
    """The calling session, or ``{"operator": true}`` without a token."""
    if caller is None:
        return {"operator": True}
    return caller.public()


@router.get("/sessions/{ref}")
async def get_session(ref: str, svc: ServicesDep) -> dict[str, Any]:
    return (await svc.sessions.resolve(ref)).public()


@router.post("/sessions/{ref}/kill")
async def kill(ref: str, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return (await svc.sessions.kill(ref, caller)).public()


@router.post("/sessions/{ref}/name")
async def rename(ref: str, body: NameBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return (await svc.sessions.rename(ref, body.name, caller)).public()


@router.post("/sessions/{ref}/restore")
async def restore(ref: str, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return (await svc.sessions.restore(ref, caller)).public()


@router.get("/sessions/{ref}/output")
async def output(ref: str, svc: ServicesDep, lines: int = 50) -> dict[str, Any]:
    if lines < 1:
        raise InvalidInput(f"lines must be at least 1, not {lines}")
    return {"output": await svc.sessions.output(ref, min(lines, 100000))}


@router.get("/sessions/{ref}/tail")
async def tail(ref: str, svc: ServicesDep, limit: int = 20) -> dict[str, Any]:
    return {"items": await svc.sessions.tail(ref, max(1, min(limit, 1000)))}
