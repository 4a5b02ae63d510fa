"""Notes: the key/value scratchpad. Each endpoint translates to one operation of
``ops/notes.py``."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import Note, NoteList, NoteRemoved, NoteWatched
from sm.daemon.deps import CallerDep, OpsDep
from sm.ops.notes import ListNotes, ReadNote, RemoveNote, WatchNotes, WriteNote

router = APIRouter(tags=["notes"])


class ValueBody(BaseModel):
    value: str


class WatchBody(BaseModel):
    keys: list[str] = Field(default_factory=list)
    prefix: str | None = None
    until: str | None = None
    after: int | None = None
    timeout: float = 30.0


@router.get("/notes", response_model=NoteList)
async def list_notes(
    ops: OpsDep, caller: CallerDep, prefix: str = "", after: str = "", limit: int = 100
) -> NoteList:
    """Notes under ``prefix`` in key order, cursor-paginated by key (values included)."""
    return NoteList.of(await ops.notes.list(caller, ListNotes(prefix, after, limit)))


@router.post("/notes/watch", response_model=NoteWatched)
async def watch(body: WatchBody, ops: OpsDep, caller: CallerDep) -> NoteWatched:
    """Block until a watched key is written (or holds ``until``), at most 30 s per
    request; ``seq`` is the cursor (``after``) to ask again with."""
    req = WatchNotes(tuple(body.keys), body.prefix, body.until, body.after, body.timeout)
    return NoteWatched.of(await ops.notes.watch(caller, req))


@router.get("/notes/{key:path}", response_model=Note)
async def read(key: str, ops: OpsDep, caller: CallerDep) -> Note:
    return Note.of(await ops.notes.read(caller, ReadNote(key)))


@router.put("/notes/{key:path}", response_model=Note)
async def write(key: str, body: ValueBody, ops: OpsDep, caller: CallerDep) -> Note:
    """Set the note; the answer leaves its value out."""
    return Note.of(await ops.notes.write(caller, WriteNote(key, body.value)), value=False)


@router.delete("/notes/{key:path}", response_model=NoteRemoved)
async def remove(key: str, ops: OpsDep, caller: CallerDep) -> NoteRemoved:
    await ops.notes.remove(caller, RemoveNote(key))
    return NoteRemoved(key=key)
