"""The knowledge base. Each endpoint translates to one operation of ``ops/kb.py``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from sm.api.models import EntriesAdded, Entry, EntryAdded, EntryList, Memory
from sm.daemon.deps import CallerDep, OpsDep
from sm.ops.kb import (
    AddEntry,
    EditEntry,
    EntryRef,
    Learn,
    Learning,
    ListKb,
    MemoryFor,
    SearchKb,
)

router = APIRouter(tags=["kb"])
# an entry id as SQLite stores it (a bigger number is bad input, not a server error)
EntryId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class EntryBody(BaseModel):
    title: str
    content: str
    tags: list[str] = Field(default_factory=list)
    scope: str = "project"
    project: str | None = None


class LearningBody(BaseModel):
    title: str
    content: str
    tags: list[str] = Field(default_factory=list)


class LearnBody(BaseModel):
    learnings: list[LearningBody]
    scope: str = "project"
    project: str | None = None


class EditBody(BaseModel):
    title: str | None = None
    content: str | None = None
    tags: list[str] | None = None
    scope: str | None = None
    project: str | None = None


@router.post("/kb", status_code=201, response_model=EntryAdded)
async def add(body: EntryBody, ops: OpsDep, caller: CallerDep) -> EntryAdded:
    """Add an entry; a duplicate is merged into the existing one (``merged``)."""
    req = AddEntry(body.title, body.content, tuple(body.tags), body.scope, body.project)
    return EntryAdded.of(await ops.kb.add(caller, req))


@router.post("/kb/learn", response_model=EntriesAdded)
async def learn(body: LearnBody, ops: OpsDep, caller: CallerDep) -> EntriesAdded:
    """Report up to five learnings (from a job's agent: tagged with the job)."""
    items = tuple(Learning(i.title, i.content, tuple(i.tags)) for i in body.learnings)
    added = await ops.kb.learn(caller, Learn(items, body.scope, body.project))
    return EntriesAdded(items=[EntryAdded.of(a) for a in added])


@router.get("/kb", response_model=EntryList)
async def list_entries(
    ops: OpsDep, caller: CallerDep, project: str | None = None, scope: str | None = None,
    tag: str | None = None, after: int = 0, limit: int = 100,
) -> EntryList:
    return EntryList.of(await ops.kb.list(caller, ListKb(project, scope, tag, after, limit)))


@router.get("/kb/search", response_model=EntryList)
async def search(ops: OpsDep, caller: CallerDep, q: str, project: str | None = None,
                 limit: int = 20) -> EntryList:
    """Entries with all the words of ``q`` (any, when none has all), best first."""
    hits = await ops.kb.search(caller, SearchKb(q, project, limit))
    return EntryList(items=[Entry.hit(h) for h in hits])


@router.get("/kb/memory", response_model=Memory)
async def memory(ops: OpsDep, caller: CallerDep, project: str, text: str) -> Memory:
    """The ``## Memory`` section a job of ``project`` about ``text`` would get."""
    return Memory(text=await ops.kb.memory(caller, MemoryFor(project, text)))


@router.get("/kb/{entry_id:int}", response_model=Entry)
async def get(entry_id: EntryId, ops: OpsDep, caller: CallerDep) -> Entry:
    return Entry.of(await ops.kb.get(caller, EntryRef(entry_id)))


@router.patch("/kb/{entry_id:int}", response_model=Entry)
async def edit(entry_id: EntryId, body: EditBody, ops: OpsDep, caller: CallerDep) -> Entry:
    req = EditEntry(entry_id, body.title, body.content,
                    tuple(body.tags) if body.tags is not None else None, body.scope,
                    body.project)
    return Entry.of(await ops.kb.edit(caller, req))


@router.delete("/kb/{entry_id:int}", response_model=Entry)
async def remove(entry_id: EntryId, ops: OpsDep, caller: CallerDep) -> Entry:
    return Entry.of(await ops.kb.remove(caller, EntryRef(entry_id)))
