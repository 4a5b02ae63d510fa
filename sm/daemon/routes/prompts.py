"""Answering what an agent asks the human: its permission dialog (approve/deny) and
``sm ask`` questions — for the terminal dashboard and scripts, as the web page does."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sm.core.permissions import answer_permission
from sm.daemon.deps import CallerDep, ServicesDep
from sm.errors import Refused, Unavailable

router = APIRouter(tags=["prompts"])


class ApproveBody(BaseModel):
    always: bool = False


class AnswerBody(BaseModel):
    text: str


@router.post("/sessions/{ref}/approve")
async def approve(ref: str, body: ApproveBody, svc: ServicesDep,
                  caller: CallerDep) -> dict[str, Any]:
    """Allow the tool call the session's permission dialog asks about (the operator only;
    Conflict unless the dialog shows)."""
    if caller is not None:
        raise Refused("only the operator answers a permission prompt")
    return await answer_permission(svc.sessions, ref, allow=True, always=body.always)


@router.post("/sessions/{ref}/deny")
async def deny(ref: str, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    if caller is not None:
        raise Refused("only the operator answers a permission prompt")
    return await answer_permission(svc.sessions, ref, allow=False)


@router.post("/asks/{ask_id}/answer")
async def answer(ask_id: str, body: AnswerBody, svc: ServicesDep,
                 caller: CallerDep) -> dict[str, Any]:
    """Answer an ``sm ask`` question (the operator only)."""
    if caller is not None:
        raise Refused("only the operator answers questions")
    if svc.telegram is None:
        raise Unavailable("questions need the Telegram bridge (telegram.token)")
    ask = await svc.telegram.asks.answer(ask_id, body.text, "watch")
    return {"id": ask.id, "state": ask.state, "answer": ask.answer}
