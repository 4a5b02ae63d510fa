"""Coordination: wait, status, task/turn complete, clear, handoff, dispatch, em,
children, others."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import Message, Ok, Session, SessionPage, WaitResult, Watcher
from sm.core.conversations import Cleared
from sm.daemon.deps import CallerDep, OpsDep
from sm.ops.coordination import MAX_WAIT

router = APIRouter(tags=["coordination"])
Mode = Literal["sequential", "important", "urgent"]


class WaitBody(BaseModel):
    timeout: float = Field(default=MAX_WAIT, ge=0)
    notify: bool = False


class TextBody(BaseModel):
    text: str = ""


class ClearBody(BaseModel):
    prompt: str = ""
    mode: Mode = "sequential"


class DispatchBody(BaseModel):
    agent: str
    role: str
    params: dict[str, str] = Field(default_factory=dict)
    cwd: str = ""
    dry_run: bool = False
    clear: bool = True
    mode: Mode = "sequential"


class EmBody(BaseModel):
    name: str | None = None


class ClearOut(BaseModel):
    clear: Message
    prompt: Message | None

    @classmethod
    def of(cls, done: Cleared) -> ClearOut:
        return cls(clear=Message.of(done.clear, full=False),
                   prompt=Message.of(done.prompt, full=False) if done.prompt else None)


class TaskCompleteOut(BaseModel):
    message: Message | None


class DispatchOut(BaseModel):
    text: str
    role: str
    session: Session | None
    message: Message | None
    clear: Message | None


class EmOut(BaseModel):
    session: Session | None
    children: list[Session]
    digest_every: float


class OthersOut(BaseModel):
    repo: str
    items: list[Session]


@router.post("/sessions/{ref}/wait", response_model=WaitResult, response_model_exclude_none=True)
async def wait(ref: str, body: WaitBody, ops: OpsDep, caller: CallerDep) -> WaitResult:
    """Block until the target is idle with nothing undelivered, or exited, for at most
    ``timeout`` seconds (capped: ask again). With ``notify``, answer at once and tell
    the caller later, as a message."""
    if body.notify:
        watcher = await ops.coordination.watch(caller, ref, body.timeout)
        return WaitResult(watcher=Watcher.of(watcher))
    return WaitResult.of(await ops.coordination.wait(caller, ref, body.timeout))


@router.post("/me/status", response_model=Session)
async def set_status(body: TextBody, ops: OpsDep, caller: CallerDep) -> Session:
    return Session.of(await ops.coordination.set_status(caller, body.text))


@router.post("/me/task-complete", response_model=TaskCompleteOut)
async def task_complete(body: TextBody, ops: OpsDep, caller: CallerDep) -> TaskCompleteOut:
    message = await ops.coordination.task_complete(caller, body.text)
    return TaskCompleteOut(message=Message.of(message, full=False) if message else None)


@router.post("/me/turn-complete", response_model=Ok)
async def turn_complete(ops: OpsDep, caller: CallerDep) -> Ok:
    await ops.coordination.turn_complete(caller)
    return Ok()


@router.post("/sessions/{ref}/clear", response_model=ClearOut)
async def clear(ref: str, body: ClearBody, ops: OpsDep, caller: CallerDep) -> ClearOut:
    """Queue a clear of the session's conversation (then ``prompt``). Parent, ancestor,
    the session itself or the operator only."""
    return ClearOut.of(await ops.coordination.clear(caller, ref, body.prompt, body.mode))


@router.post("/me/handoff", response_model=ClearOut)
async def handoff(body: TextBody, ops: OpsDep, caller: CallerDep) -> ClearOut:
    return ClearOut.of(await ops.coordination.handoff(caller, body.text))


@router.post("/dispatch", response_model=DispatchOut)
async def dispatch(body: DispatchBody, ops: OpsDep, caller: CallerDep) -> DispatchOut:
    """Expand a role template for an agent and (unless ``dry_run``) send it."""
    out = await ops.coordination.dispatch(
        caller, body.agent, body.role, body.params, body.cwd, dry_run=body.dry_run,
        clear=body.clear, mode=body.mode,
    )
    return DispatchOut(
        text=out.text, role=out.role, session=Session.of(out.target) if out.target else None,
        message=Message.of(out.message, full=False) if out.message else None,
        clear=Message.of(out.clear, full=False) if out.clear else None,
    )


@router.post("/me/em", response_model=EmOut)
async def em(body: EmBody, ops: OpsDep, caller: CallerDep) -> EmOut:
    me, children = await ops.coordination.em(caller, body.name)
    return EmOut(session=Session.of(me), children=[Session.of(c) for c in children],
                 digest_every=ops.coordination.core.reminders.settings.digest)


@router.get("/sessions/{ref}/children", response_model=SessionPage)
async def children(
    ref: str, ops: OpsDep, caller: CallerDep, recursive: bool = False, all: bool = False
) -> SessionPage:
    rows = await ops.coordination.children(caller, ref, recursive, live_only=not all)
    return SessionPage(items=[Session.of(r) for r in rows])


@router.get("/others", response_model=OthersOut)
async def others(ops: OpsDep, caller: CallerDep, cwd: str = "") -> OthersOut:
    """Other live sessions in the caller's repository (git toplevel of its directory)."""
    repo, rows = await ops.coordination.others(caller, cwd)
    return OthersOut(repo=repo, items=[Session.of(r) for r in rows])
