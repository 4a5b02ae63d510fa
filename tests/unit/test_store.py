"""The SQLite store on a temp path: migrations keep old rows, names stay unique among live
sessions, hooks are deduplicated, transactions are all or nothing."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
import pytest

from sm.api.models import Session
from sm.errors import Conflict
from sm.store import Store
from sm.store.migrations import MIGRATIONS
from sm.store.sessions import SessionRecord

T = TypeVar("T")


def run(fn: Callable[[Store], Awaitable[T]], path: Path) -> T:
    """Open the store at ``path``, run ``fn`` with it, and always close it."""

    async def main() -> T:
        store = await Store.open(path)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


def _session(sid: str, name: str | None = None, state: str = "idle", **kw: Any) -> SessionRecord:
    return SessionRecord(
        id=sid, name=name, provider="scripted", state=state, cwd="/tmp", tmux_session=f"sm-{sid}",
        parent_id=kw.pop("parent_id", None), options=kw.pop("options", {}), created_at=1.0,
        updated_at=1.0, token_hash=kw.pop("token_hash", f"hash-{sid}"), **kw,
    )


def _columns(db: Path, table: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_migrating_from_version_1_keeps_the_rows(tmp_path: Path) -> None:
    db = tmp_path / "sm.db"

    async def make_v1() -> int:
        conn = await aiosqlite.connect(db, isolation_level=None)
        store = Store(conn, db)
        try:
            reached = await store.migrate(target=1)
            await conn.execute(
                "INSERT INTO sessions (id, name, provider, state, cwd, tmux_session, "
                "token_hash, parent_id, options, conversation_id, last_message, exit_status, "
                "created_at, updated_at) VALUES ('abc123', 'old', 'scripted', 'idle', '/w', "
                "'sm-abc123', 'h1', NULL, '{\"script\": \"s.yaml\"}', 'conv-1', 'hi', NULL, "
                "10.0, 11.0)")
            await conn.execute("INSERT INTO events (ts, session_id, kind, payload) "
                               "VALUES (10.0, 'abc123', 'spawned', '{}')")
            return reached
        finally:
            await conn.close()

    assert asyncio.run(make_v1()) == 1
    assert "status_text" not in _columns(db, "sessions")
    assert "dedupe_key" not in _columns(db, "events")

    async def reopen(store: Store) -> tuple[int, SessionRecord | None, list[Any]]:
        return (await store.version(), await store.sessions.get("abc123"),
                await store.events.list(session_id="abc123"))

    version, rec, events = run(reopen, db)
    assert version == len(MIGRATIONS)
    assert rec is not None
    assert (rec.name, rec.state, rec.cwd, rec.options) == ("old", "idle", "/w",
                                                           {"script": "s.yaml"})
    assert (rec.conversation_id, rec.last_message, rec.created_at) == ("conv-1", "hi", 10.0)
    assert (rec.status_text, rec.role) == (None, None)
    assert {"status_text", "role"} <= _columns(db, "sessions")
    assert "dedupe_key" in _columns(db, "events")
    assert [(e.kind, e.session_id) for e in events] == [("spawned", "abc123")]
    # reopening an up-to-date file changes nothing
    assert run(lambda s: s.version(), db) == len(MIGRATIONS)


def test_every_migration_applies_on_top_of_the_previous(tmp_path: Path) -> None:
    db = tmp_path / "sm.db"

    async def step_by_step() -> list[int]:
        conn = await aiosqlite.connect(db, isolation_level=None)
        store = Store(conn, db)
        try:
            return [await store.migrate(target=n) for n in range(1, len(MIGRATIONS) + 1)]
        finally:
            await conn.close()

    assert asyncio.run(step_by_step()) == list(range(1, len(MIGRATIONS) + 1))
    assert run(lambda s: s.version(), db) == len(MIGRATIONS)




def _open_in_child(db: Path) -> str:
    """Store.open(db) in a child process, which must raise Unavailable and then exit:
    a connection thread left running would keep it alive (and would hang this run)."""
    code = textwrap.dedent(f"""
        import asyncio
        from pathlib import Path
        from sm.errors import Unavailable
        from sm.store import Store
        try:
            asyncio.run(Store.open(Path({str(db)!r})))
        except Unavailable as exc:
            print(exc.message)
    """)
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=3)
    except subprocess.TimeoutExpired:
        pytest.fail("the process did not exit after Store.open failed")
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "sm.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    assert "newer than this sm" in _open_in_child(db)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "sm.db"
    db.write_bytes(b"this is not an sqlite file, not at all " * 50)
    assert "file is not a database" in _open_in_child(db)


def test_an_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    assert "cannot open the store" in _open_in_child(tmp_path / "file" / "sm.db")


def test_names_are_unique_among_live_sessions(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        async with store.write() as conn:
            await store.sessions.insert(conn, _session("a1", "dup"))
        with pytest.raises(Conflict, match="'dup' is taken"):
            async with store.write() as conn:
                await store.sessions.insert(conn, _session("a2", "dup"))
        assert await store.sessions.get("a2") is None
        async with store.write() as conn:
            await store.sessions.update(conn, "a1", 2.0, state="stopped")
            await store.sessions.insert(conn, _session("a3", "dup"))
        # the dead holder cannot come back to life under the same name
        with pytest.raises(Conflict):
            async with store.write() as conn:
                await store.sessions.update(conn, "a1", 3.0, state="starting")
        assert (await store.sessions.get("a1")).state == "stopped"  # type: ignore[union-attr]
        # unnamed sessions never collide
        async with store.write() as conn:
            await store.sessions.insert(conn, _session("b1"))
            await store.sessions.insert(conn, _session("b2"))

    run(body, tmp_path / "sm.db")


def test_find_prefers_id_then_live_name_then_any_name_then_prefix(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        async with store.write() as conn:
            await store.sessions.insert(conn, _session("abc111", "old", state="stopped"))
            await store.sessions.insert(conn, _session("abc222", "new"))
            await store.sessions.insert(conn, _session("x_y", "abc111x"))
            await store.sessions.insert(conn, _session("xzy", "other", state="exited"))

        async def ids(ref: str) -> list[str]:
            return sorted(r.id for r in await store.sessions.find(ref))

        assert await ids("abc111") == ["abc111"]
        assert await ids("new") == ["abc222"]
        assert await ids("old") == ["abc111"]  # a dead session by its name
        assert await ids("abc") == ["abc111", "abc222"]  # ambiguous prefix
        assert await ids("abc2") == ["abc222"]
        assert await ids("x_") == ["x_y"]  # _ is literal, not a LIKE wildcard
        assert await ids("x%") == []
        assert await ids("nothing") == []

    run(body, tmp_path / "sm.db")


def test_list_is_in_creation_order_with_a_cursor(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        async with store.write() as conn:
            for sid, state in (("z9", "idle"), ("a1", "stopped"), ("m5", "running")):
                await store.sessions.insert(conn, _session(sid, state=state))
        assert [r.id for r in await store.sessions.list()] == ["z9", "a1", "m5"]
        assert [r.id for r in await store.sessions.list(live_only=True)] == ["z9", "m5"]
        assert [r.id for r in await store.sessions.list(after="z9", limit=1)] == ["a1"]

    run(body, tmp_path / "sm.db")


def test_hook_events_are_deduplicated_by_key(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        async with store.write() as conn:
            first = await store.events.append(conn, 1.0, "s", "hook", {"n": 1}, "hook:x")
            again = await store.events.append(conn, 2.0, "s", "hook", {"n": 2}, "hook:x")
            plain = await store.events.append(conn, 3.0, "s", "state", {"n": 3})
            plain2 = await store.events.append(conn, 4.0, "s", "state", {"n": 3})
        assert first is not None and again is None
        assert plain is not None and plain2 is not None and plain2.seq > plain.seq > first.seq
        events = await store.events.list(session_id="s")
        assert [e.payload for e in events] == [{"n": 1}, {"n": 3}, {"n": 3}]
        assert [e.seq for e in await store.events.list(session_id="s", limit=2, newest=True)
                ] == [plain.seq, plain2.seq]
        assert [e.kind for e in await store.events.list(kinds=("hook",))] == ["hook"]

    run(body, tmp_path / "sm.db")


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    async def body(store: Store) -> None:
        with pytest.raises(RuntimeError):
            async with store.write() as conn:
                await store.sessions.insert(conn, _session("t1", "tx"))
                await store.events.append(conn, 1.0, "t1", "spawned", {})
                raise RuntimeError("boom")
        assert await store.sessions.get("t1") is None
        assert await store.events.list() == []
        async with store.write() as conn:  # the store is still usable
            await store.sessions.insert(conn, _session("t1", "tx"))
        assert (await store.sessions.get("t1")) is not None

    run(body, tmp_path / "sm.db")


def test_the_store_survives_a_reopen(tmp_path: Path) -> None:
    db = tmp_path / "sm.db"

    async def write(store: Store) -> None:
        async with store.write() as conn:
            await store.sessions.insert(conn, _session("p1", "kept", options={"k": [1, 2]}))
            await store.events.append(conn, 1.0, "p1", "spawned", {"argv": ["a", "b"]})

    async def read(store: Store) -> tuple[Any, Any]:
        return await store.sessions.get("p1"), await store.events.list()

    run(write, db)
    rec, events = run(read, db)
    assert rec.name == "kept" and rec.options == {"k": [1, 2]}
    assert rec.token_hash == "hash-p1" and "token_hash" not in Session.of(rec).model_dump()
    assert [e.payload for e in events] == [{"argv": ["a", "b"]}]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_the_open_queue_and_live_names_are_read_through_their_partial_indexes(
        tmp_path: Path) -> None:
    """SQLite uses a partial index only when a query repeats the index's WHERE as
    literals: a bound parameter in its place sorted a target's whole backlog per look."""
    from sm.store.messages import OPEN_WHERE
    from sm.store.sessions import LIVE_NAME_WHERE, LIVE_WHERE
    from sm.vocab import DEAD, OPEN

    assert {s.value for s in OPEN} == set(OPEN_WHERE.split("(")[1].strip(")").replace(
        "'", "").split(", "))
    assert {s.value for s in DEAD} == set(LIVE_WHERE.split("(")[1].strip(")").replace(
        "'", "").split(", "))
    schema = "\n".join(MIGRATIONS)
    assert f"WHERE {OPEN_WHERE};" in schema
    assert f"WHERE {LIVE_NAME_WHERE};" in schema

    async def plans(store: Store) -> list[str]:
        async with store.write() as conn:
            for i in range(50):
                await store.sessions.insert(conn, _session(f"s{i}", f"n{i}"))
        out = []
        for sql, args in (
            (f"SELECT id FROM messages WHERE target_id = ? AND {OPEN_WHERE} AND state = ? "
             "ORDER BY rank, created_at, rowid LIMIT 1", ("s1", "queued")),
            (f"SELECT id FROM sessions WHERE id = ? OR (name = ? AND {LIVE_NAME_WHERE})",
             ("n1", "n1")),
        ):
            rows = await store.conn.execute_fetchall(f"EXPLAIN QUERY PLAN {sql}", args)
            out.append(" / ".join(str(r[3]) for r in rows))
        return out

    queue, names = run(plans, tmp_path / "sm.db")
    assert "USING INDEX messages_open" in queue and "TEMP B-TREE" not in queue, queue
    assert "sessions_live_name" in names and "SCAN" not in names, names


def test_events_appended_together_get_their_own_seqs_in_order(tmp_path: Path) -> None:
    async def check(store: Store) -> None:
        rows = [(float(i), "s", "x", {"i": i}) for i in range(1200)]  # three statements
        async with store.write() as conn:
            made = await store.events.append_many(conn, rows)
        stored = await store.events.list(limit=2000)
        assert [(e.seq, e.payload) for e in made] == [(e.seq, e.payload) for e in stored]
        assert [e.payload["i"] for e in made] == list(range(1200))

    run(check, tmp_path / "sm.db")
