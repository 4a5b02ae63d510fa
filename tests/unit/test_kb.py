"""The knowledge base on a real store: search by words, duplicates merged (by title and
by word overlap, not by accident), learn's limit, and the bounded ## Memory section."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from sm.core.events import EventBus
from sm.core.kb import (
    Draft,
    KnowledgeBase,
    MemoryLimits,
    Origin,
    is_duplicate,
    match_expression,
    normalize_title,
)
from sm.errors import InvalidInput
from sm.store import Store
from sm.store.kb import EntryRecord

ME = Origin("operator")


def run(tmp_path: Path, test: Callable[[KnowledgeBase], Awaitable[None]],
        memory: MemoryLimits | None = None) -> None:
    async def main() -> None:
        store = await Store.open(tmp_path / "sm.db")
        try:
            await test(KnowledgeBase(store, EventBus(), memory=memory or MemoryLimits()))
        finally:
            await store.close()

    asyncio.run(main())


def _entry(title: str, content: str, tags: str = "") -> EntryRecord:
    return EntryRecord(0, title, normalize_title(title), content, tags, "global", None, None,
                       None, "x", 1, 0.0, 0.0)


def test_titles_normalise_and_queries_quote_every_word() -> None:
    assert normalize_title("  Run PYTEST -p no:cacheprovider!! ") == \
        "run pytest p no cacheprovider"
    assert match_expression('pytest OR "x" NEAR(y) the') == '"near" OR "pytest"'
    assert match_expression("the a of") == ""


@pytest.mark.parametrize(("draft", "entry", "duplicate"), [
    # same title once normalised
    (Draft("Use -p no:cacheprovider", "anything"),
     _entry("use -P  no:cacheprovider.", "something else entirely"), True),
    # the same words in another order, another title
    (Draft("Pytest cache", "pytest writes its cache dir; pass -p no:cacheprovider here"),
     _entry("Read-only checkout", "pass -p no:cacheprovider here: pytest writes its cache dir"),
     True),
    # a short restatement inside a longer entry
    (Draft("tmux sockets", "tmux socket paths must stay under 107 characters"),
     _entry("Socket path limit", "tmux socket paths must stay under 107 characters, so "
            "SM_HOME lives in /tmp in tests and benches"), True),
    # related but different
    (Draft("tmux version", "tmux 3.3 leaves its socket file behind after kill-server"),
     _entry("Socket path limit", "tmux socket paths must stay under 107 characters"), False),
])
def test_what_counts_as_a_duplicate(draft: Draft, entry: EntryRecord, duplicate: bool) -> None:
    assert is_duplicate(draft, entry) is duplicate


def test_search_finds_by_words_and_stems(tmp_path: Path) -> None:
    async def test(kb: KnowledgeBase) -> None:
        await kb.add(Draft("Flaky socket tests", "The daemon tests flake when SM_HOME is long",
                           ("tests", "sockets"), "global"), ME)
        await kb.add(Draft("Migrations", "Append a migration; never edit a shipped one",
                           scope="project", project="sm"), ME)
        hits = await kb.search("flaky socket")
        assert [e.title for e, _ in hits] == ["Flaky socket tests"]
        assert [e.title for e, _ in await kb.search("migrations shipped")] == ["Migrations"]
        assert [e.title for e, _ in await kb.search("edited")] == ["Migrations"]  # stemmed
        # all words first; any word when nothing has all
        assert {e.title for e, _ in await kb.search("socket migration")} == \
            {"Flaky socket tests", "Migrations"}
        assert await kb.search("kubernetes") == []
        project_only = await kb.search("migration", project="other", all_projects=False)
        assert project_only == []
        with pytest.raises(InvalidInput, match="nothing to search for"):
            await kb.search("the of")

    run(tmp_path, test)


def test_a_duplicate_is_merged_not_added(tmp_path: Path) -> None:
    async def test(kb: KnowledgeBase) -> None:
        first = await kb.add(Draft("Pytest cache", "pass -p no:cacheprovider: the checkout is "
                                   "read-only", ("pytest",), "project", "sm"), ME)
        again = await kb.add(Draft("pytest  CACHE!", "also set PYTHONDONTWRITEBYTECODE",
                                   ("ci",), "project", "sm"), Origin("w1", "s1", "j1"))
        assert not first.merged and again.merged and again.entry.id == first.entry.id
        assert again.entry.seen == 2 and again.entry.tag_list == ["pytest", "ci"]
        assert "PYTHONDONTWRITEBYTECODE" in again.entry.content
        assert "no:cacheprovider" in again.entry.content
        # another project does not see (so does not merge into) sm's entry
        other = await kb.add(Draft("Pytest cache", "x y z words", (), "project", "web"), ME)
        assert not other.merged
        assert len(await kb.store.kb.list()) == 2

    run(tmp_path, test)


def test_learn_takes_at_most_five_and_checks_all_first(tmp_path: Path) -> None:
    async def test(kb: KnowledgeBase) -> None:
        topics = ["sockets", "migrations", "hooks", "tmux", "delivery", "telegram"]
        six = [Draft(f"About {t}", f"what we found out about {t} today", (), "global")
               for t in topics]
        with pytest.raises(InvalidInput, match="6 learnings; report at most 5"):
            await kb.learn(six, ME)
        bad = [six[0], Draft("", "no title", (), "global")]
        with pytest.raises(InvalidInput, match="no title"):
            await kb.learn(bad, ME)
        assert await kb.store.kb.count() == 0
        out = await kb.learn(six[:2] + [six[0]], Origin("w", "s", "j"))
        assert [a.merged for a in out] == [False, False, True]
        assert out[0].entry.job_id == "j" and out[0].entry.agent == "w"

    run(tmp_path, test)


def test_memory_is_relevant_first_and_bounded(tmp_path: Path) -> None:
    limits = MemoryLimits(entries=3, bytes=400, entry_chars=80)

    async def test(kb: KnowledgeBase) -> None:
        for i in range(6):
            await kb.add(Draft(f"generic note {i}", f"unrelated filler topic{i} " * 3,
                               (), "project", "sm"), ME)
        await kb.add(Draft("Socket paths", "keep SM_HOME short: socket paths are limited " * 5,
                           (), "global"), ME)
        await kb.add(Draft("Other project", "socket things elsewhere", (), "project", "web"), ME)
        text = await kb.memory_for("sm", "fix the socket path test")
        lines = text.splitlines()
        assert lines[0] == "## Memory"
        assert lines[2].startswith("- **Socket paths**: keep SM_HOME short")
        assert lines[2].endswith("…") and len(lines[2]) < 120
        assert "Other project" not in text
        assert len(text.encode()) <= 400 and len(lines) <= 2 + 3
        # no word matches: the project's own most reported entries, never another's
        assert "generic note" in await kb.memory_for("sm", "zzz")
        assert await kb.memory_for("nothing-here", "zzz") == ""

    run(tmp_path, test, limits)


def test_bad_entries_are_refused_naming_the_problem(tmp_path: Path) -> None:
    async def test(kb: KnowledgeBase) -> None:
        with pytest.raises(InvalidInput, match="scope project but names no project"):
            await kb.add(Draft("t", "c", (), "project", None), ME)
        with pytest.raises(InvalidInput, match="unknown scope 'team'"):
            await kb.add(Draft("t", "c", (), "team", "x"), ME)
        with pytest.raises(InvalidInput, match="invalid tag"):
            await kb.add(Draft("t", "c", ("no spaces",), "global"), ME)
        with pytest.raises(InvalidInput, match="the limit is 8192"):
            await kb.add(Draft("t", "x" * 9000, (), "global"), ME)

    run(tmp_path, test)
