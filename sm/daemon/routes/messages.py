"""Messages: send, list, show, cancel."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

from sm.api.models import Message, MessageList
from sm.daemon.deps import CallerDep, OpsDep

router = APIRouter(tags=["messages"])


class SendBody(BaseModel):
    targets: list[str]
    body: str
    mode: Literal["sequential", "important", "urgent"] = "sequential"
    notify_on_stop: bool | None = None
    sender: str | None = None  # the operator's clients may speak as "human"
    ttl: float | None = None  # seconds until an undelivered message expires


@router.post("/messages", status_code=201, response_model=MessageList)
async def send(body: SendBody, ops: OpsDep, caller: CallerDep) -> MessageList:
    """Accept a message for each target; returns once durably queued (never claims a
    delivery that has not happened)."""
    msgs = await ops.messages.send(caller, body.targets, body.body, body.mode,
                                   notify_on_stop=body.notify_on_stop, sender=body.sender,
                                   ttl=body.ttl)
    return MessageList(items=[Message.of(m, full=False) for m in msgs])


@router.get("/messages", response_model=MessageList)
async def list_messages(
    ops: OpsDep, caller: CallerDep, to: str | None = None, sender: str | None = None,
    state: str | None = None, limit: int = 100, oldest: bool = False,
) -> MessageList:
    """The newest ``limit`` messages the caller may read (``oldest``: the first ones),
    oldest first."""
    rows = await ops.messages.list(caller, to=to, sender=sender,
                                   states=state.split(",") if state else None, limit=limit,
                                   newest=not oldest)
    return MessageList(items=[Message.of(m, full=False) for m in rows])


@router.get("/messages/{message_id}", response_model=Message)
async def get_message(message_id: str, ops: OpsDep, caller: CallerDep) -> Message:
    return Message.of(await ops.messages.get(caller, message_id))


@router.post("/messages/{message_id}/cancel", response_model=Message)
async def cancel(message_id: str, ops: OpsDep, caller: CallerDep) -> Message:
    return Message.of(await ops.messages.cancel(caller, message_id))
