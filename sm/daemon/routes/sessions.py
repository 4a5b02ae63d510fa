"""Sessions: spawn, list, show, kill, rename, restore, output, tail, answer."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import Operator, Session, SessionPage
from sm.core.sessions import SpawnRequest
from sm.daemon.deps import CallerDep, OpsDep

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


class ForgetBody(BaseModel):
    refs: list[str] = Field(max_length=1000)


class PruneBody(BaseModel):
    older_than: str | None = None  # "7d", "12h": ended longer ago than that; none: all


class AnswerBody(BaseModel):
    decision: Literal["allow", "always", "deny"]


class Output(BaseModel):
    output: str


class Actions(BaseModel):
    items: list[dict[str, Any]]


@router.post("/sessions", status_code=201, response_model=Session)
async def spawn(body: SpawnBody, ops: OpsDep, caller: CallerDep) -> Session:
    """Spawn an agent. The caller (if a session) becomes its parent."""
    req = SpawnRequest(body.provider, body.prompt, body.name, body.cwd, body.options,
                       body.worktree)
    return Session.of(await ops.sessions.spawn(caller, req))


@router.get("/sessions", response_model=SessionPage)
async def list_sessions(
    ops: OpsDep, caller: CallerDep, live: bool = False, parent: str | None = None,
    after: str | None = None, limit: int = 500, forgotten: bool = False,
) -> SessionPage:
    """Sessions in creation order, cursor-paginated by id (the forgotten ones too with
    ``forgotten``)."""
    page = await ops.sessions.list(caller, live=live, parent=parent, after=after, limit=limit,
                                   forgotten=forgotten)
    return SessionPage(items=[Session.of(r) for r in page.items], next=page.next)


@router.post("/sessions/forget", response_model=SessionPage)
async def forget(body: ForgetBody, ops: OpsDep, caller: CallerDep) -> SessionPage:
    """Leave dead sessions out of lists; their records and history stay."""
    return SessionPage(items=[Session.of(r) for r in await ops.sessions.forget(caller,
                                                                            body.refs)])


@router.post("/sessions/prune", response_model=SessionPage)
async def prune(body: PruneBody, ops: OpsDep, caller: CallerDep) -> SessionPage:
    """Forget every dead session that ended longer ago than ``older_than``."""
    return SessionPage(items=[Session.of(r) for r in await ops.sessions.prune(
        caller, body.older_than)])


@router.get("/me", response_model=Session | Operator)
async def me(ops: OpsDep, caller: CallerDep) -> Session | Operator:
    """The calling session, or ``{"operator": true}``."""
    rec = await ops.sessions.me(caller)
    return Session.of(rec) if rec else Operator()


@router.get("/sessions/{ref}", response_model=Session)
async def get_session(ref: str, ops: OpsDep, caller: CallerDep) -> Session:
    return Session.of(await ops.sessions.get(caller, ref))


@router.post("/sessions/{ref}/kill", response_model=Session)
async def kill(ref: str, ops: OpsDep, caller: CallerDep) -> Session:
    return Session.of(await ops.sessions.kill(caller, ref))


@router.post("/sessions/{ref}/name", response_model=Session)
async def rename(ref: str, body: NameBody, ops: OpsDep, caller: CallerDep) -> Session:
    return Session.of(await ops.sessions.rename(caller, ref, body.name))


@router.post("/sessions/{ref}/restore", response_model=Session)
async def restore(ref: str, ops: OpsDep, caller: CallerDep) -> Session:
    return Session.of(await ops.sessions.restore(caller, ref))


@router.post("/sessions/{ref}/answer", response_model=Session)
async def answer(ref: str, body: AnswerBody, ops: OpsDep, caller: CallerDep) -> Session:
    """Answer the permission prompt the agent shows: allow (once), always, deny."""
    return Session.of(await ops.sessions.answer(caller, ref, body.decision))


@router.get("/sessions/{ref}/output", response_model=Output)
async def output(ref: str, ops: OpsDep, caller: CallerDep, lines: int = 50) -> Output:
    return Output(output=await ops.sessions.output(caller, ref, lines))


@router.get("/sessions/{ref}/tail", response_model=Actions)
async def tail(ref: str, ops: OpsDep, caller: CallerDep, limit: int = 20) -> Actions:
    return Actions(items=await ops.sessions.tail(caller, ref, limit))
