"""Notes: the key/value scratchpad. Each endpoint translates to one operation of
``ops/notes.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.daemon.deps import OpCallerDep, WorkDep
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


@router.get("/notes")
async def list_notes(
    work: WorkDep, caller: OpCallerDep, prefix: str = "", after: str = "", limit: int = 100
) -> dict[str, Any]:
    """Notes under ``prefix`` in key order, cursor-paginated by key (values included)."""
    page = await work.notes.list(caller, ListNotes(prefix, after, limit))
    return {"items": [n.public() for n in page.items], "next": page.next,
            "watching": page.watching}


@router.post("/notes/watch")
async def watch(body: WatchBody, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """Block until a watched key is written (or holds ``until``), at most 30 s per
    request; ``seq`` is the cursor (``after``) to ask again with."""
    req = WatchNotes(tuple(body.keys), body.prefix, body.until, body.after, body.timeout)
    found = await work.notes.watch(caller, req)
    return {"outcome": found.outcome, "note": found.note.public() if found.note else None,
            "seq": found.seq}


@router.get("/notes/{key:path}")
async def read(key: str, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    return (await work.notes.read(caller, ReadNote(key))).public()


@router.put("/notes/{key:path}")
async def write(key: str, body: ValueBody, work: WorkDep, caller: OpCallerDep
                ) -> dict[str, Any]:
    return (await work.notes.write(caller, WriteNote(key, body.value))).public(value=False)


@router.delete("/notes/{key:path}")
async def remove(key: str, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    await work.notes.remove(caller, RemoveNote(key))
    return {"key": key, "removed": True}
