"""Knowledge-base operations: add, learn, edit, remove, get, search, list, memory.

Anyone may add and search. An entry's project defaults to the project of the job the
calling session works on, else to ``default_project``. Editing and removing an entry
is for the operator and for the session that produced it.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace

from sm.core.caller import Caller
from sm.core.job_queue import JobQueue
from sm.core.kb import Added, Draft, KnowledgeBase, Origin
from sm.errors import InvalidInput, Refused
from sm.store.kb import EntryRecord

MAX_PAGE = 1000


@dataclass(frozen=True)
class Learning:
    title: str
    content: str
    tags: tuple[str, ...] = ()


AddEntry = Draft  # an entry to add is the knowledge base's own draft


@dataclass(frozen=True)
class Learn:
    """What an agent learned (at most five), reported at the end of its job."""

    learnings: tuple[Learning, ...]
    scope: str = "project"
    project: str | None = None


@dataclass(frozen=True)
class EditEntry:
    id: int
    title: str | None = None
    content: str | None = None
    tags: tuple[str, ...] | None = None
    scope: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class EntryRef:
    id: int


@dataclass(frozen=True)
class SearchKb:
    query: str
    project: str | None = None  # only global entries and this project's
    limit: int = 20


@dataclass(frozen=True)
class ListKb:
    project: str | None = None
    scope: str | None = None
    tag: str | None = None
    after: int = 0
    limit: int = 100


@dataclass(frozen=True)
class MemoryFor:
    project: str
    text: str


@dataclass(frozen=True)
class Hit:
    entry: EntryRecord
    rank: float  # bm25: lower is better


@dataclass(frozen=True)
class EntryPage:
    items: builtins.list[EntryRecord]
    next: int | None


class KbOps:
    def __init__(self, kb: KnowledgeBase, jobs: JobQueue, default_project: str) -> None:
        self.kb = kb
        self.jobs = jobs
        self.default_project = default_project

    async def add(self, caller: Caller, req: AddEntry) -> Added:
        """Add an entry, or merge it into the one it duplicates. Raises InvalidInput."""
        origin, project = await self._origin(caller, req.project)
        return await self.kb.add(replace(req, project=project), origin)

    async def learn(self, caller: Caller, req: Learn) -> builtins.list[Added]:
        """Add up to five learnings (each merged when a duplicate). Raises InvalidInput."""
        origin, project = await self._origin(caller, req.project)
        drafts = [Draft(item.title, item.content, item.tags, req.scope, project)
                  for item in req.learnings]
        return await self.kb.learn(drafts, origin)

    async def edit(self, caller: Caller, req: EditEntry) -> EntryRecord:
        """Raises NotFound, Refused (another session's entry), InvalidInput."""
        await self._check_owner(caller, await self.kb.get(req.id), "edit")
        return await self.kb.edit(req.id, title=req.title, content=req.content, tags=req.tags,
                                  scope=req.scope, project=req.project)

    async def remove(self, caller: Caller, req: EntryRef) -> EntryRecord:
        """Raises NotFound, Refused (another session's entry)."""
        await self._check_owner(caller, await self.kb.get(req.id), "remove")
        return await self.kb.remove(req.id)

    async def get(self, caller: Caller, req: EntryRef) -> EntryRecord:
        return await self.kb.get(req.id)

    async def search(self, caller: Caller, req: SearchKb) -> builtins.list[Hit]:
        """Entries with the query's words, best first. Raises InvalidInput."""
        if not 1 <= req.limit <= MAX_PAGE:
            raise InvalidInput(f"limit {req.limit}: expected 1…{MAX_PAGE}")
        found = await self.kb.search(req.query, project=req.project,
                                     all_projects=req.project is None, limit=req.limit)
        return [Hit(entry, rank) for entry, rank in found]

    async def list(self, caller: Caller, req: ListKb) -> EntryPage:
        if not 1 <= req.limit <= MAX_PAGE:
            raise InvalidInput(f"limit {req.limit}: expected 1…{MAX_PAGE}")
        rows = await self.kb.list(project=req.project, scope=req.scope, tag=req.tag,
                                 after=req.after, limit=req.limit + 1)
        page = rows[: req.limit]
        return EntryPage(page, page[-1].id if len(rows) > req.limit else None)

    async def memory(self, caller: Caller, req: MemoryFor) -> str:
        """The ``## Memory`` section a job of ``project`` about ``text`` would get."""
        return await self.kb.memory_for(req.project, req.text)

    async def _origin(self, caller: Caller, project: str | None) -> tuple[Origin, str]:
        job = await self.jobs.of_session(caller.id) if caller.id else None
        origin = Origin(caller.label, caller.id, job.id if job else None)
        return origin, project or (job.project if job else self.default_project)

    async def _check_owner(self, caller: Caller, entry: EntryRecord, what: str) -> None:
        if caller.is_operator or entry.session_id == caller.id:
            return
        raise Refused(f"session {caller.label} may not {what} entry {entry.id}: "
                      f"{entry.agent} wrote it")
