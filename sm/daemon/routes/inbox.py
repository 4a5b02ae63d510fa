"""The operator's inbox: notes from sessions to the human."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import Note, NoteList
from sm.daemon.deps import CallerDep, OpsDep

router = APIRouter(tags=["inbox"])


class NoteBody(BaseModel):
    body: str


class AckBody(BaseModel):
    ids: list[str] = Field(default_factory=list)
    all: bool = False


@router.post("/inbox", status_code=201, response_model=Note)
async def write(body: NoteBody, ops: OpsDep, caller: CallerDep) -> Note:
    """Leave a note for the human (``sm send operator``): stored, never typed anywhere."""
    return Note.of(await ops.inbox.write(caller, body.body))


@router.get("/inbox", response_model=NoteList)
async def notes(ops: OpsDep, caller: CallerDep, unread: bool = False,
                limit: int = 100) -> NoteList:
    """The notes, newest first; reading the list marks nothing (the operator only)."""
    return NoteList(items=[Note.of(n) for n in await ops.inbox.list(caller, unread=unread,
                                                                    limit=limit)])


@router.post("/inbox/ack", response_model=NoteList)
async def ack(body: AckBody, ops: OpsDep, caller: CallerDep) -> NoteList:
    """Mark notes read (``all``: every unread one); idempotent (the operator only)."""
    return NoteList(items=[Note.of(n) for n in await ops.inbox.ack(caller, body.ids,
                                                                   everything=body.all)])
