"""sm ask: a question for the human, answered from any surface."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import Ask, AskList
from sm.daemon.deps import CallerDep, OpsDep

router = APIRouter(tags=["asks"])


class AskBody(BaseModel):
    id: str
    question: str
    choices: list[str] = Field(default_factory=list)
    timeout: float = 600.0


class AnswerBody(BaseModel):
    answer: str
    by: str = ""


@router.post("/asks", status_code=201, response_model=Ask)
async def ask(body: AskBody, ops: OpsDep, caller: CallerDep) -> Ask:
    """Post a question for the human (idempotent by ``id``); wait for its answer with
    ``GET /asks/{id}?wait=S``."""
    return Ask.of(await ops.asks.ask(caller, body.id, body.question, body.choices,
                                     body.timeout))


@router.get("/asks", response_model=AskList)
async def pending(ops: OpsDep, caller: CallerDep) -> AskList:
    """Questions waiting for the human (the operator only)."""
    return AskList(items=[Ask.of(a) for a in await ops.asks.pending(caller)])


@router.get("/asks/{ask_id}", response_model=Ask)
async def wait(ask_id: str, ops: OpsDep, caller: CallerDep, wait: float = 0.0) -> Ask:
    """The question, once answered or expired, or as it stands after ``wait`` seconds
    (at most 60)."""
    return Ask.of(await ops.asks.wait(caller, ask_id, wait))


@router.post("/asks/{ask_id}/answer", response_model=Ask)
async def answer(ask_id: str, body: AnswerBody, ops: OpsDep, caller: CallerDep) -> Ask:
    """Answer a question as the human (the operator only)."""
    return Ask.of(await ops.asks.answer(caller, ask_id, body.answer, body.by))
