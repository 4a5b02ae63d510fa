"""The knowledge base. Each endpoint translates to one operation of ``ops/kb.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.core.kb import Added
from sm.daemon.deps import OpCallerDep, WorkDep
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


def _added(added: Added) -> dict[str, Any]:
    return {"entry": added.entry.public(), "merged": added.merged}


@router.post("/kb", status_code=201)
async def add(body: EntryBody, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """Add an entry; a duplicate is merged into the existing one (``merged``)."""
    req = AddEntry(body.title, body.content, tuple(body.tags), body.scope, body.project)
    return _added(await work.kb.add(caller, req))


@router.post("/kb/learn")
async def learn(body: LearnBody, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """Report up to five learnings (from a job's agent: tagged with the job)."""
    items = tuple(Learning(i.title, i.content, tuple(i.tags)) for i in body.learnings)
    return {"items": [_added(a) for a in
                      await work.kb.learn(caller, Learn(items, body.scope, body.project))]}


@router.get("/kb")
async def list_entries(
    work: WorkDep, caller: OpCallerDep, project: str | None = None, scope: str | None = None,
    tag: str | None = None, after: int = 0, limit: int = 100,
) -> dict[str, Any]:
    page = await work.kb.list(caller, ListKb(project, scope, tag, after, limit))
    return {"items": [e.public() for e in page.items], "next": page.next}


@router.get("/kb/search")
async def search(work: WorkDep, caller: OpCallerDep, q: str, project: str | None = None,
                 limit: int = 20) -> dict[str, Any]:
    """Entries with all the words of ``q`` (any, when none has all), best first."""
    hits = await work.kb.search(caller, SearchKb(q, project, limit))
    return {"items": [{**h.entry.public(), "rank": h.rank} for h in hits]}


@router.get("/kb/memory")
async def memory(work: WorkDep, caller: OpCallerDep, project: str, text: str
                 ) -> dict[str, Any]:
    """The ``## Memory`` section a job of ``project`` about ``text`` would get."""
    return {"text": await work.kb.memory(caller, MemoryFor(project, text))}


@router.get("/kb/{entry_id:int}")
async def get(entry_id: int, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    return (await work.kb.get(caller, EntryRef(entry_id))).public()


@router.patch("/kb/{entry_id:int}")
async def edit(entry_id: int, body: EditBody, work: WorkDep, caller: OpCallerDep
               ) -> dict[str, Any]:
    req = EditEntry(entry_id, body.title, body.content,
                    tuple(body.tags) if body.tags is not None else None, body.scope,
                    body.project)
    return (await work.kb.edit(caller, req)).public()


@router.delete("/kb/{entry_id:int}")
async def remove(entry_id: int, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    return (await work.kb.remove(caller, EntryRef(entry_id))).public()
