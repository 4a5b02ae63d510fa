"""sm ask: a question for the human, answered from Telegram."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.daemon.deps import CallerDep, ServicesDep
from sm.daemon.services import Services
from sm.errors import Unavailable

router = APIRouter(tags=["asks"])


class AskBody(BaseModel):
    id: str
    question: str
    choices: list[str] = Field(default_factory=list)
    timeout: float = 600.0


def _bridge(svc: Services) -> Any:
    if svc.telegram is None:
        raise Unavailable("sm ask needs the Telegram bridge: set telegram.token and "
                          "telegram.chat_id (see docs/telegram.md)")
    return svc.telegram


def _public(ask: Any) -> dict[str, Any]:
    return {
        "id": ask.id, "session_id": ask.session_id, "question": ask.question,
        "choices": ask.choices, "state": ask.state, "answer": ask.answer,
        "answered_by": ask.answered_by, "deadline": ask.deadline, "created_at": ask.created_at,
    }


@router.post("/asks", status_code=201)
async def ask(body: AskBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Post a question to the caller's Telegram thread (idempotent by ``id``); answer it
    with ``GET /asks/{id}?wait=S``."""
    bridge = _bridge(svc)
    return _public(await bridge.ask(caller, body.id, body.question, body.choices, body.timeout))


@router.get("/asks/{ask_id}")
async def wait(ask_id: str, svc: ServicesDep, wait: float = 0.0) -> dict[str, Any]:
    """The question, once answered or expired, or as it stands after ``wait`` seconds
    (at most 60)."""
    bridge = _bridge(svc)
    return _public(await bridge.wait(ask_id, max(0.0, min(wait, 60.0))))
