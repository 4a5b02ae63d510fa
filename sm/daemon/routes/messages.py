from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel

from sm.daemon.deps import CallerDep, ServicesDep
from sm.errors import Refused

router = APIRouter(tags=["messages"])


class SendBody(BaseModel):
    targets: list[str]
    body: str
    mode: Literal["sequential", "important", "urgent"] = "sequential"
    notify_on_stop: bool | None = None
    sender: str | None = None  # the operator's clients may speak as "human"


@router.post("/messages", status_code=201)
async def send(body: SendBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Accept a message for each target; returns once durably queued (never claims a
    delivery that has not happened)."""
    if body.sender and caller is not None:
        raise Refused("a session speaks as itself; only the operator may set the sender")
    msgs = await svc.delivery.send(
        caller, body.targets, body.body, body.mode, body.notify_on_stop, body.sender
    )
    return {"items": [m.public(full=False) for m in msgs]}


@router.get("/messages")
async def list_messages(
    svc: ServicesDep, to: str | None = None, sender: str | None = None,
    state: str | None = None, limit: int = 100,
) -> dict[str, Any]:
    target_id = (await svc.sessions.resolve(to)).id if to else None
    sender_id = (await svc.sessions.resolve(sender)).id if sender else None
    rows = await svc.store.messages.list(
        target_id=target_id, sender_id=sender_id,
        states=tuple(state.split(",")) if state else (), limit=max(1, min(limit, 1000)),
    )
    return {"items": [m.public(full=False) for m in rows]}


@router.get("/messages/{message_id}")
async def get_message(message_id: str, svc: ServicesDep) -> dict[str, Any]:
    return (await svc.delivery.get(message_id)).public()


@router.post("/messages/{message_id}/cancel")
async def cancel(message_id: str, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return (await svc.delivery.cancel(message_id, caller)).public()
