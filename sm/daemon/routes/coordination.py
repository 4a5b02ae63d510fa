"""Coordination endpoints: wait, status, task/turn complete, clear, handoff, dispatch,
em, children, others. Each calls one function of ``core/coordination.py`` or its parts."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.daemon.deps import CallerDep, ServicesDep

router = APIRouter(tags=["coordination"])
_WAIT_SLICE = 30.0  # longest a single wait request blocks; the CLI asks again


class WaitBody(BaseModel):
    timeout: float = Field(default=_WAIT_SLICE, ge=0)
    notify: bool = False


class TextBody(BaseModel):
    text: str = ""


class ClearBody(BaseModel):
    prompt: str = ""
    mode: Literal["sequential", "important", "urgent"] = "sequential"


class DispatchBody(BaseModel):
    agent: str
    role: str
    params: dict[str, str] = Field(default_factory=dict)
    cwd: str = ""
    dry_run: bool = False
    clear: bool = True
    mode: Literal["sequential", "important", "urgent"] = "sequential"


class EmBody(BaseModel):
    name: str | None = None


@router.post("/sessions/{ref}/wait")
async def wait(ref: str, body: WaitBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Block until the target is idle with nothing undelivered, or exited, for at most
    ``timeout`` seconds (capped: ask again). With ``notify``, answer at once and tell
    the caller later, as a message."""
    waits = svc.coordination.waits
    if body.notify:
        watcher = await waits.watch(caller, ref, body.timeout)
        return {"watcher": watcher.public()}
    rec, outcome = await waits.wait(ref, min(body.timeout, _WAIT_SLICE))
    open_messages = await svc.store.messages.open_for(rec.id)
    return {"outcome": outcome, "session": rec.public(), "undelivered": len(open_messages)}


@router.post("/me/status")
async def set_status(body: TextBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return (await svc.coordination.set_status(caller, body.text)).public()


@router.post("/me/task-complete")
async def task_complete(body: TextBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    message = await svc.coordination.task_complete(caller, body.text)
    return {"message": message.public(full=False) if message else None}


@router.post("/me/turn-complete")
async def turn_complete(svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    await svc.coordination.turn_complete(caller)
    return {"ok": True}


@router.post("/sessions/{ref}/clear")
async def clear(ref: str, body: ClearBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Queue a clear of the session's conversation (then ``prompt``). Parent, ancestor,
    the session itself or the operator only."""
    done = await svc.coordination.conversations.clear(caller, ref, body.prompt, body.mode)
    return {"clear": done.clear.public(full=False),
            "prompt": done.prompt.public(full=False) if done.prompt else None}


@router.post("/me/handoff")
async def handoff(body: TextBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    done = await svc.coordination.conversations.handoff(caller, body.text)
    return {"clear": done.clear.public(full=False),
            "prompt": done.prompt.public(full=False) if done.prompt else None}


@router.post("/dispatch")
async def dispatch(body: DispatchBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Expand a role template for an agent and (unless ``dry_run``) send it."""
    out = await svc.coordination.dispatch(
        caller, body.agent, body.role, body.params, body.cwd, dry_run=body.dry_run,
        clear=body.clear, mode=body.mode,
    )
    return {
        "text": out.text, "role": out.role,
        "session": out.target.public() if out.target else None,
        "message": out.message.public(full=False) if out.message else None,
        "clear": out.clear.public(full=False) if out.clear else None,
    }


@router.post("/me/em")
async def em(body: EmBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    children = await svc.coordination.em(caller, body.name)
    me = await svc.sessions.get(caller.id) if caller else None
    return {"session": me.public() if me else None, "children": [c.public() for c in children],
            "digest_every": svc.settings.remind.digest}


@router.get("/sessions/{ref}/children")
async def children(
    ref: str, svc: ServicesDep, recursive: bool = False, all: bool = False
) -> dict[str, Any]:
    rows = await svc.coordination.children(ref, recursive, live_only=not all)
    return {"items": [r.public() for r in rows]}


@router.get("/others")
async def others(svc: ServicesDep, caller: CallerDep, cwd: str = "") -> dict[str, Any]:
    """Other live sessions in the caller's repository (git toplevel of its directory)."""
    repo, rows = await svc.coordination.others(caller, cwd)
    return {"repo": repo, "items": [r.public() for r in rows]}
