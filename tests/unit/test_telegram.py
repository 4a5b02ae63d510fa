"""The Telegram bridge's pure parts and rows: splitting, merging, access, idempotent
rows on a temp store, and that nothing but the daemon's bridge imports ``telegram``."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from sm.config import TelegramSettings
from sm.errors import InvalidInput
from sm.store import Store
from sm.store.sessions import SessionRecord
from sm.store.telegram import OutboxItem, TelegramRows
from sm.telegram import format as fmt

T = TypeVar("T")


def run(fn: Callable[[Store, TelegramRows], Awaitable[T]], path: Path) -> T:
    async def main() -> T:
        store = await Store.open(path)
        try:
            return await fn(store, TelegramRows(store))
        finally:
            await store.close()

    return asyncio.run(main())


def test_split_keeps_every_character_and_cuts_at_lines() -> None:
    text = "\n".join(f"line {i:04d} " + "x" * (i % 70) for i in range(600))
    parts = fmt.split(text, 1000)
    assert all(len(p) <= 1000 for p in parts)
    assert "\n".join(parts) == text
    assert all(p.startswith("line ") for p in parts)
    assert fmt.split("short") == ["short"]
    assert "".join(fmt.split("y" * 2500, 1000)) == "y" * 2500  # no newline: hard cuts


def test_long_texts_become_numbered_parts_under_the_limit() -> None:
    parts = fmt.turn("alpha", "<b>&</b>\n" * 2000)
    assert len(parts) == 5
    assert [p[0].split("\n", 1)[0] for p in parts] == [f"🤖 alpha ({i}/5)" for i in range(1, 6)]
    assert all(len(plain) <= fmt.LIMIT for plain, _ in parts)
    assert all("<b>&</b>" not in html and "&lt;b&gt;&amp;" in html for _, html in parts)
    assert fmt.message("bob", "urgent", "hi", "abcd1234")[0][0] == "✉️ bob [urgent] · abcd1234\nhi"


def test_merging_takes_consecutive_plain_texts_for_one_thread() -> None:
    from sm.telegram.outbox import _merge

    def send(i: int, **kw: object) -> OutboxItem:
        return OutboxItem("send", f"t{i}", f"t{i}", session_id=str(kw.pop("s", "a")), id=i,
                          **kw)  # type: ignore[arg-type]

    batch = [send(1), send(2), send(3, s="b"), send(4)]
    assert [i.id for i in _merge(batch)] == [1, 2]
    assert [i.id for i in _merge([send(1, ref="approval:1"), send(2)])] == [1]
    assert [i.id for i in _merge([send(1), send(2, markup=[[("x", "y")]])])] == [1]
    big = [OutboxItem("send", "z" * 2000, session_id="a", id=i) for i in range(3)]
    assert [i.id for i in _merge(big)] == [0]
    inflight = [send(1, state="sending"), send(2, state="sending"), send(3)]
    assert [i.id for i in _merge(inflight)] == [1, 2]  # exactly what was on the wire
    mixed = _merge([send(1, silent=True), send(2)])
    assert [i.silent for i in mixed] == [False, False]  # one of them rings: the message rings


def test_access_is_an_allowlist_and_empty_means_nobody() -> None:
    from sm.telegram.inbound import Access

    nobody = Access.from_settings(TelegramSettings())
    assert nobody.is_empty and not nobody.allows(1, -100)
    some = Access.from_settings(TelegramSettings(allowed_user_ids=("42",),
                                                 allowed_chat_ids=("-100",)))
    assert some.allows(42, 7) and some.allows(9, -100) and not some.allows(9, 7)
    assert not some.allows(None, None)
    with pytest.raises(InvalidInput, match="telegram.allowed_user_ids"):
        Access.from_settings(TelegramSettings(allowed_user_ids=("@me",)))


def test_rows_are_idempotent(tmp_path: Path) -> None:
    async def check(store: Store, rows: TelegramRows) -> None:
        rec = SessionRecord(id="s1", name="alpha", provider="scripted", state="running",
                            cwd="/tmp", tmux_session="sm-s1", parent_id=None, options={},
                            created_at=1.0, updated_at=1.0, token_hash="h")
        async with store.write() as conn:
            await store.sessions.insert(conn, rec)
            first = await rows.outbox.enqueue(conn, OutboxItem("alert", "x", dedupe_key="k"), 1.0)
            again = await rows.outbox.enqueue(conn, OutboxItem("alert", "x", dedupe_key="k"), 2.0)
            await rows.threads.intend(conn, "s1", -100, "topic", "alpha", 1.0)
            await rows.threads.intend(conn, "s1", -100, "topic", "alpha", 2.0)
            a1 = await rows.approvals.add(conn, "s1", 10, "Bash", 5.0, 1.0)
            a2 = await rows.approvals.add(conn, "s1", 11, "Bash", 5.0, 1.0)  # one pending each
        assert first is not None and again is None
        assert [i.text for i in await rows.outbox.pending()] == ["x"]
        thread = await rows.threads.get("s1")
        assert thread is not None and thread.thread_id is None and thread.attempts == 2
        assert a1 is not None and a2 is None
        async with store.write() as conn:
            assert await rows.approvals.settle(conn, a1, "allowed", "@h", 2.0)
            assert not await rows.approvals.settle(conn, a1, "denied", "timeout", 3.0)
        approval = await rows.approvals.get(a1)
        assert approval is not None and (approval.state, approval.answered_by) == (
            "allowed", "@h")

    run(check, tmp_path / "sm.db")


def test_only_the_bridge_imports_telegram() -> None:
    code = ("import sys, sm.daemon.app, sm.daemon.services, sm.daemon.routes.ask, sm.cli.fast, "
            "sm.cli.main, sm.store.telegram, sm.telegram.format; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('telegram', 'httpx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert [m for m in ast.literal_eval(out.stdout) if m.startswith("telegram")] == []


# -- the daily summary -----------------------------------------------------------------------

def _local(day: int, hour: int, minute: int, second: int = 0, month: int = 12) -> float:
    from datetime import datetime

    return datetime(2026, month, day, hour, minute, second).timestamp()


@pytest.mark.parametrize(("text", "at"), [("18:00", (18, 0)), ("7:05", (7, 5)),
                                          (" 00:00 ", (0, 0)), ("23:59", (23, 59))])
def test_the_summary_time_is_a_local_hh_mm(text: str, at: tuple[int, int]) -> None:
    from sm.telegram.summary import parse_at

    assert parse_at(text) == at


@pytest.mark.parametrize("text", ["24:00", "18:60", "1080", "18h", "6pm", "18:00:00", "-1:00"])
def test_a_bad_summary_time_names_the_key_and_the_form(text: str) -> None:
    from sm.telegram.summary import parse_at

    with pytest.raises(InvalidInput, match=r"telegram.daily_summary .*expected a local time "
                                           "HH:MM"):
        parse_at(text)


def test_a_summary_is_due_from_its_time_once_a_day() -> None:
    from sm.telegram.summary import due

    at = (18, 0)
    assert due(at, _local(1, 17, 59, 59), "") is None
    yesterday = _local(30, 18, 0, month=11)
    assert due(at, _local(1, 18, 0), "") == ("2026-12-01", yesterday)
    assert due(at, _local(1, 23, 0), "2026-11-30") == ("2026-12-01", yesterday)
    assert due(at, _local(1, 23, 0), "2026-12-01") is None
    assert due(at, _local(2, 0, 30), "2026-12-01") is None  # the next day, before its time


def test_the_daily_summary_is_queued_once_per_day_and_remembered(tmp_path: Path) -> None:
    from sm.agents.usage import Response, Tokens
    from sm.core.caller import Caller
    from sm.core.events import EventBus
    from sm.core.prices import PriceTable
    from sm.core.usage import Meter
    from sm.ops.usage import UsageOps
    from sm.telegram.outbox import Outbox
    from sm.telegram.summary import KEY, DailySummary

    now = [_local(1, 17, 0)]

    async def go(store: Store, rows: TelegramRows) -> list[object]:
        rec = SessionRecord(id="s1", name="spender", provider="scripted", state="idle",
                            cwd="/src/app", tmux_session="sm-s1", parent_id=None, options={},
                            created_at=1.0, updated_at=1.0, token_hash="h")
        async with store.write() as conn:
            await store.sessions.insert(conn, rec)
            await store.usage.record(conn, "s1", [
                Response("k1", _local(1, 9, 0), "claude-sonnet-4-5", Tokens(input=1000)),
                Response("k2", _local(1, 9, 0), "mystery", Tokens(input=5)),
                Response("k0", _local(30, 8, 0, month=11), "claude-sonnet-4-5",
                         Tokens(input=7)),
            ], project="/src/app", now=0.0)
        meter = Meter(store, EventBus(), {}, sessions_dir=tmp_path, prices=PriceTable(),
                      threshold=0)
        usage = UsageOps(store, meter)

        def summary() -> DailySummary:  # a daemon's bridge, as built at its start
            return DailySummary((18, 0), store, rows, Outbox(store, rows, 1), usage,
                                Caller.operator("telegram"), clock=lambda: now[0])

        first = summary()
        seen: list[object] = [await first.tick()]  # 17:00: not yet
        now[0] = _local(1, 18, 0, 1)
        seen += [await first.tick(), await first.tick()]
        seen.append(await summary().tick())  # restarted the same day: already sent
        now[0] = _local(2, 18, 5)
        seen += [await summary().tick(), await rows.state.get(KEY)]
        seen.append([i.text for i in await rows.outbox.pending()])
        off = DailySummary(None, store, rows, Outbox(store, rows, 1), usage,
                           Caller.operator("telegram"), clock=lambda: now[0])
        seen.append(await off.tick())
        return seen

    *ticks, day, posted, off = run(go, tmp_path / "sm.db")
    assert ticks == [False, True, False, False, True] and day == "2026-12-02" and off is False
    assert len(posted) == 2
    first = str(posted[0])
    assert first.startswith("📊 Spend since Mon 30 Nov 18:00\n")
    assert "Total: $0.003+? · 1k tokens · 2 responses" in first  # not the day before's
    assert "• spender — $0.003+?" in first and "• /src/app — $0.003+?" in first
    assert "No price for mystery" in first
    assert "Nothing was spent." in str(posted[1])
