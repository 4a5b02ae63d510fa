"""The operator's inbox: notes from sessions to the human."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import InboxNote, InboxNoteList
from sm.daemon.deps import CallerDep, OpsDep

router = APIRouter(tags=["inbox"])


class NoteBody(BaseModel):
    body: str


class AckBody(BaseModel):
    ids: list[str] = Field(default_factory=list)
    all: bool = False


@router.post("/inbox", status_code=201, response_model=InboxNote)
async def write(body: NoteBody, ops: OpsDep, caller: CallerDep) -> InboxNote:
    """Leave a note for the human (``sm send operator``): stored, never typed anywhere."""
    return InboxNote.of(await ops.inbox.write(caller, body.body))


@router.get("/inbox", response_model=InboxNoteList)
async def notes(ops: OpsDep, caller: CallerDep, unread: bool = False,
                limit: int = 100) -> InboxNoteList:
    """The notes, newest first; reading the list marks nothing (the operator only)."""
    return InboxNoteList(items=[InboxNote.of(n) for n in await ops.inbox.list(caller, unread=unread,
                                                                    limit=limit)])


@router.post("/inbox/ack", response_model=InboxNoteList)
async def ack(body: AckBody, ops: OpsDep, caller: CallerDep) -> InboxNoteList:
    """Mark notes read (``all``: every unread one); idempotent (the operator only)."""
    return InboxNoteList(items=[InboxNote.of(n) for n in await ops.inbox.ack(caller, body.ids,
                                                                   everything=body.all)])
