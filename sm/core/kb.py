"""The knowledge base: what agents learned, searchable by words (SQLite FTS5), fed back
into later jobs' prompts as a bounded ``## Memory`` section.

An entry is *a duplicate* of an existing one a job in the same project would see
(global entries and that project's) when their titles are equal once normalised
(case, punctuation and spacing ignored), or when their words — title, content and
tags, lower-cased, without stop words — overlap: Jaccard ≥ ``DUP_JACCARD``, or the
smaller set (of at least ``DUP_MIN_WORDS`` words) lies ≥ ``DUP_CONTAINED`` inside the
larger. A duplicate is merged, not added: tags united, ``seen`` + 1, and the content
kept, replaced by the one that contains it, or extended by the new words.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sm.core.events import EventBus
from sm.errors import InvalidInput, NotFound
from sm.store import Store
from sm.store.kb import EntryRecord
from sm.vocab import EventKind

SCOPES = ("project", "global")
MAX_TITLE = 200
MAX_TAGS = 10
MAX_LEARN = 5  # learnings per report
DUP_JACCARD = 0.75
DUP_CONTAINED = 0.9
DUP_MIN_WORDS = 5
_WORD = re.compile(r"[^\W_]+(?:[-_.:/][^\W_]+)*", re.UNICODE)
_TAG = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,39}")
_QUERY_WORDS = 12  # the longest words only: long OR queries score every entry
_STOP_WORDS = (
    "a an and are as at be but by can do does for from has have how i if in into is it its "
    "no not of on or so than that the their then there these this to was we were what when "
    "which will with you your use used using should must may also only just all any more "
    "most other some such"
)
STOP = frozenset(_STOP_WORDS.split())


def normalize_title(title: str) -> str:
    """``"Run pytest -p  no:cacheprovider!"`` → ``"run pytest p no cacheprovider"``."""
    return " ".join(re.findall(r"[^\W_]+", title.lower()))


def words(text: str) -> set[str]:
    """The significant words of ``text``: lower case, no stop words, no 1-letter ones,
    a plural ``s`` dropped (``sockets`` → ``socket``)."""
    out = set()
    for token in _WORD.findall(text.lower()):
        for part in re.findall(r"[^\W_]+", token):
            if len(part) > 1 and part not in STOP:
                if len(part) > 3 and part.endswith("s") and not part.endswith("ss"):
                    part = part[:-1]
                out.add(part)
    return out


def match_expression(text: str, op: str = "OR") -> str:
    """An FTS5 query for the words of ``text`` (each quoted: no operator injection),
    joined by ``op``; "" when it has none."""
    ordered = sorted(words(text), key=lambda w: (-len(w), w))[:_QUERY_WORDS]
    return f" {op} ".join(f'"{w}"' for w in sorted(ordered))


def similarity(a: set[str], b: set[str]) -> tuple[float, float]:
    """(Jaccard, containment of the smaller set in the larger) of two word sets."""
    if not a or not b:
        return 0.0, 0.0
    common = len(a & b)
    return common / len(a | b), common / min(len(a), len(b))


@dataclass(frozen=True)
class Draft:
    """An entry to add: what an agent learned, or a person wrote."""

    title: str
    content: str
    tags: tuple[str, ...] = ()
    scope: str = "project"
    project: str | None = None


@dataclass(frozen=True)
class Origin:
    """Who produced an entry: the job and session (when an agent did) and a label."""

    agent: str
    session_id: str | None = None
    job_id: str | None = None


@dataclass(frozen=True)
class Added:
    entry: EntryRecord
    merged: bool  # True: it was a duplicate of ``entry``, which absorbed it


@dataclass(frozen=True)
class MemoryLimits:
    entries: int = 5  # at most this many entries in a job's ## Memory
    bytes: int = 2000  # and at most this many bytes in the whole section
    entry_chars: int = 400  # each entry's content cut to this many characters


def _entry_words(title: str, content: str, tags: Sequence[str]) -> set[str]:
    return words(f"{title} {content} {' '.join(tags)}")


def is_duplicate(draft: Draft, entry: EntryRecord) -> bool:
    if normalize_title(draft.title) == entry.norm_title:
        return True
    mine = _entry_words(draft.title, draft.content, draft.tags)
    theirs = _entry_words(entry.title, entry.content, entry.tag_list)
    jaccard, contained = similarity(mine, theirs)
    return jaccard >= DUP_JACCARD or (
        min(len(mine), len(theirs)) >= DUP_MIN_WORDS and contained >= DUP_CONTAINED)


def merged_content(old: str, new: str, max_bytes: int) -> str:
    """Keep ``old`` when it says what ``new`` does; take ``new`` when it says all that
    ``old`` did; otherwise append ``new`` (unless that would pass ``max_bytes``)."""
    a, b = words(old), words(new)
    if not b or (len(b & a) / len(b)) >= DUP_CONTAINED:
        return old
    if a and (len(a & b) / len(a)) >= DUP_CONTAINED:
        return new
    joined = f"{old}\n\n{new}"
    return joined if len(joined.encode()) <= max_bytes else old


def render_memory(entries: Sequence[EntryRecord], limits: MemoryLimits) -> str:
    """The ``## Memory`` section for a job prompt, at most ``limits.bytes`` long ("" for
    no entries)."""
    head = "## Memory\nWhat earlier jobs learned (most relevant first):\n"
    out, size = [head], len(head.encode())
    for entry in entries[: limits.entries]:
        text = " ".join(entry.content.split())
        if len(text) > limits.entry_chars:
            text = text[: limits.entry_chars - 1].rstrip() + "…"
        line = f"- **{' '.join(entry.title.split())}**: {text}\n"
        if size + len(line.encode()) > limits.bytes:
            break
        out.append(line)
        size += len(line.encode())
    return "".join(out) if len(out) > 1 else ""


def check_tags(tags: Sequence[str]) -> tuple[str, ...]:
    clean = tuple(dict.fromkeys(t.strip().lower().lstrip("#") for t in tags if t.strip()))
    if len(clean) > MAX_TAGS:
        raise InvalidInput(f"{len(clean)} tags; the limit is {MAX_TAGS}")
    for tag in clean:
        if not _TAG.fullmatch(tag):
            raise InvalidInput(f"invalid tag {tag!r}: 1-40 of a-z 0-9 _ . - starting with a "
                               "letter or digit")
    return clean


@dataclass
class KnowledgeBase:
    store: Store
    bus: EventBus
    max_entry_bytes: int = 8192
    memory: MemoryLimits = field(default_factory=MemoryLimits)
    clock: Callable[[], float] = time.time

    def check(self, draft: Draft) -> Draft:
        """``draft`` cleaned up; raises InvalidInput naming what is wrong."""
        title = " ".join(draft.title.split())
        content = draft.content.strip()
        if not title:
            raise InvalidInput("the entry has no title")
        if len(title) > MAX_TITLE:
            raise InvalidInput(f"title is {len(title)} characters; the limit is {MAX_TITLE}")
        if not content:
            raise InvalidInput(f"the entry {title!r} has no content")
        size = len(content.encode("utf-8", "surrogatepass"))
        if size > self.max_entry_bytes:
            raise InvalidInput(f"entry {title!r} is {size} bytes; the limit is "
                               f"{self.max_entry_bytes} (kb.max_entry_bytes)")
        if draft.scope not in SCOPES:
            raise InvalidInput(f"unknown scope {draft.scope!r}; expected project or global")
        project = draft.project if draft.scope == "project" else None
        if draft.scope == "project" and not project:
            raise InvalidInput(f"entry {title!r} has scope project but names no project")
        return Draft(title, content, check_tags(draft.tags), draft.scope, project)

    async def add(self, draft: Draft, origin: Origin) -> Added:
        """Add the entry, or merge it into the existing entry it duplicates. One
        transaction with its event. Raises InvalidInput for a bad draft."""
        draft = self.check(draft)
        duplicate = await self._duplicate(draft)
        now = self.clock()
        async with self.store.write() as conn:
            if duplicate is not None:
                tags = tuple(dict.fromkeys((*duplicate.tag_list, *draft.tags)))
                content = merged_content(duplicate.content, draft.content, self.max_entry_bytes)
                await self.store.kb.update(conn, duplicate.id, now, content=content,
                                           tags=" ".join(tags), seen=duplicate.seen + 1)
                entry_id, action = duplicate.id, "merge"
            else:
                entry_id = await self.store.kb.insert(conn, EntryRecord(
                    id=0, title=draft.title, norm_title=normalize_title(draft.title),
                    content=draft.content, tags=" ".join(draft.tags), scope=draft.scope,
                    project=draft.project, job_id=origin.job_id, session_id=origin.session_id,
                    agent=origin.agent, seen=1, created_at=now, updated_at=now))
                action = "add"
            event = await self.store.events.append(conn, now, origin.session_id, EventKind.KB, {
                "action": action, "id": entry_id, "title": draft.title,
                "job_id": origin.job_id, "by": origin.agent,
            })
        await self.bus.publish([event] if event else [])
        return Added(await self.get(entry_id), duplicate is not None)

    async def learn(self, drafts: Sequence[Draft], origin: Origin) -> builtins.list[Added]:
        """Add up to ``MAX_LEARN`` learnings (each merged when a duplicate, also of one
        earlier in the same report). All are checked before any is written."""
        if not drafts:
            raise InvalidInput("no learnings given")
        if len(drafts) > MAX_LEARN:
            raise InvalidInput(f"{len(drafts)} learnings; report at most {MAX_LEARN} at a time")
        checked = [self.check(d) for d in drafts]
        return [await self.add(d, origin) for d in checked]

    async def edit(
        self, entry_id: int, *, title: str | None = None, content: str | None = None,
        tags: Sequence[str] | None = None, scope: str | None = None,
        project: str | None = None,
    ) -> EntryRecord:
        """Change the given fields. Raises NotFound, InvalidInput."""
        old = await self.get(entry_id)
        draft = self.check(Draft(
            title if title is not None else old.title,
            content if content is not None else old.content,
            tuple(tags) if tags is not None else tuple(old.tag_list),
            scope or old.scope, project if project is not None else old.project,
        ))
        now = self.clock()
        async with self.store.write() as conn:
            await self.store.kb.update(
                conn, entry_id, now, title=draft.title, norm_title=normalize_title(draft.title),
                content=draft.content, tags=" ".join(draft.tags), scope=draft.scope,
                project=draft.project)
            event = await self.store.events.append(conn, now, None, EventKind.KB, {
                "action": "edit", "id": entry_id, "title": draft.title})
        await self.bus.publish([event] if event else [])
        return await self.get(entry_id)

    async def remove(self, entry_id: int) -> EntryRecord:
        old = await self.get(entry_id)
        now = self.clock()
        async with self.store.write() as conn:
            await self.store.kb.delete(conn, entry_id)
            event = await self.store.events.append(conn, now, None, EventKind.KB, {
                "action": "remove", "id": entry_id, "title": old.title})
        await self.bus.publish([event] if event else [])
        return old

    async def get(self, entry_id: int) -> EntryRecord:
        entry = await self.store.kb.get(entry_id)
        if entry is None:
            raise NotFound(f"no knowledge-base entry {entry_id}")
        return entry

    async def search(
        self, query: str, *, project: str | None = None, all_projects: bool = True,
        limit: int = 20,
    ) -> builtins.list[tuple[EntryRecord, float]]:
        """Entries with all the words of ``query`` (any of them when none has all),
        best first. Raises InvalidInput for a query without a word to search for."""
        if not words(query):
            raise InvalidInput(f"nothing to search for in {query!r}: give some words")
        for op in ("AND", "OR"):
            found = await self.store.kb.search(match_expression(query, op), project=project,
                                               all_projects=all_projects, limit=limit)
            if found:
                return found
        return []

    async def list(
        self, *, project: str | None = None, scope: str | None = None, tag: str | None = None,
        after: int = 0, limit: int = 100,
    ) -> builtins.list[EntryRecord]:
        """Entries in id order after the id ``after``, filtered by exact project, scope
        and tag."""
        return await self.store.kb.list(project=project, scope=scope, tag=tag, after=after,
                                        limit=limit)

    async def memory_for(self, project: str, text: str) -> str:
        """The ``## Memory`` section for a job of ``project`` about ``text``: the entries
        (global or the project's) whose words best match it, then the project's own most
        reported ones; bounded by ``memory``."""
        chosen: dict[int, EntryRecord] = {}
        expression = match_expression(text, "OR")
        if expression:
            for entry, _rank in await self.store.kb.search(
                    expression, project=project, limit=self.memory.entries * 2):
                chosen.setdefault(entry.id, entry)
        if len(chosen) < self.memory.entries:
            for entry in await self.store.kb.most_seen(project, self.memory.entries):
                chosen.setdefault(entry.id, entry)
        return render_memory(list(chosen.values()), self.memory)

    async def _duplicate(self, draft: Draft) -> EntryRecord | None:
        same_title = await self.store.kb.by_title(normalize_title(draft.title), draft.project)
        if same_title:
            return same_title[0]
        expression = match_expression(f"{draft.title} {draft.content}", "OR")
        if not expression:
            return None
        for entry, _rank in await self.store.kb.search(expression, project=draft.project,
                                                       limit=10):
            if is_duplicate(draft, entry):
                return entry
        return None

