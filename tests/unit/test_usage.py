"""Prices, the usage store (one row per response, totals kept by triggers) and the meter
(reads at turn ends, context events), on SQLite under a temp path."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sm import config
from sm.agents.claude_usage import ClaudeTranscripts
from sm.agents.usage import Response, Tokens
from sm.cli.costs import parse_since
from sm.cli.views import context_text, cost_text, format_sessions
from sm.core.delivery.queue import Queue
from sm.core.events import EventBus
from sm.core.prices import SHIPPED, Price, PriceTable, base_model
from sm.core.usage import Meter, summarize, window_text
from sm.errors import InvalidInput
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord

T = TypeVar("T")


# -- prices ----------------------------------------------------------------------------------

@pytest.mark.parametrize("model, base", [
    ("claude-opus-5-5", "claude-opus-5-5"),
    ("claude-opus-5-5[1m]", "claude-opus-5-5"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("claude-opus-4-1@20250805", "claude-opus-4-1"),
    ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1"),
    ("openai/gpt-5-2025-08-07", "gpt-5"),
    ("gpt-5.4-mini", "gpt-5.4-mini"),
])
def test_model_ids_lose_what_providers_add(model: str, base: str) -> None:
    assert base_model(model) == base


def test_a_model_is_never_priced_by_a_shorter_name() -> None:
    table = PriceTable()
    assert table.price("claude-opus-5-5") == SHIPPED["claude-opus-5-5"]
    assert table.price("claude-opus-5-5") != table.price("claude-opus-5")
    assert table.price("claude-opus-5-9") is None  # not claude-opus-5's price
    assert table.price("gpt-5-codex-max") is None
    assert table.cost("mystery", Tokens(input=10)) is None


def test_costs_are_integer_micro_dollars_rounded_once() -> None:
    price = Price.usd(4, 20, 5, 8, 0.2)  # claude-opus-5-5
    t = Tokens(input=3728, output=10, cache_write_5m=1, cache_write_1h=1, cache_read=3)
    # 3728×4 + 10×20 + 5 + 8 + 3×0.2 = 15125.6 → 15126
    assert price.cost(t) == 15126
    assert PriceTable().cost("claude-opus-5-5", t) == 15126


def test_prices_from_config_override_and_extend_the_shipped_table() -> None:
    table = PriceTable({"claude-opus-5-5": {"cache_read": 0.1},
                        "my-model": {"input": 1, "output": 2, "cache_write_5m": 1.25,
                                     "cache_write_1h": 2, "cache_read": 0.1}},
                       {"claude-opus-5-5": 5000})
    assert table.price("claude-opus-5-5") == Price.usd(4, 20, 5, 8, 0.1)
    assert table.price("my-model") == Price.usd(1, 2, 1.25, 2, 0.1)
    assert table.window("claude-opus-5-5") == 5000
    assert table.window("claude-opus-5-5-20270101") == 5000
    assert table.window("gpt-5-codex") is None  # Codex states its own


@pytest.mark.parametrize("prices, windows, message", [
    ({"new-model": {"input": 1, "output": 2}}, {}, "cache_write_5m is missing"),
    ({"x": {"input": -1}}, {}, "is not a price"),
    ({"x": {"inptu": 1}}, {}, "unknown key 'inptu'"),
    ({"x": 3}, {}, "expected a mapping"),
    ({}, {"x": "big"}, "not a positive token count"),
])
def test_bad_price_entries_are_refused(prices: Any, windows: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        PriceTable(prices, windows)


def test_price_table_from_config_yaml_and_environment(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "usage:\n  prices:\n    claude-opus-5-5: {input: 3}\n  context_threshold: 0.5\n")
    s = config.load(environ={"SM_HOME": str(tmp_path),
                             "SM_USAGE_CONTEXT_WINDOWS": '{"claude-opus-5-5": 1234}'})
    assert s.usage.prices == {"claude-opus-5-5": {"input": 3}}
    assert s.usage.context_windows == {"claude-opus-5-5": 1234}
    assert s.usage.context_threshold == 0.5
    with pytest.raises(InvalidInput, match="usage.prices.*not a valid mapping"):
        config.load(environ={"SM_HOME": str(tmp_path), "SM_USAGE_PRICES": "[1"})


def test_summary_names_unpriced_models_and_prices_the_rest() -> None:
    from sm.store.usage import Sum

    sums = [Sum("s1", "claude-opus-5-5", 2, Tokens(input=1000, output=100)),
            Sum("s1", "mystery", 1, Tokens(input=5)),
            Sum("s2", "claude-opus-5-5", 1, Tokens(input=1))]
    by_session = summarize(sums, PriceTable(), "session")
    assert [(line.key, line.cost_micros, line.unpriced) for line in by_session] == [
        ("s1", 4000 + 2000, ("mystery",)), ("s2", 4, ())]
    (by_model_opus, by_model_mystery) = summarize(sums, PriceTable(), "model")
    assert (by_model_opus.responses, by_model_opus.tokens.input) == (3, 1001)
    assert by_model_mystery.cost_micros == 0


# -- the store -------------------------------------------------------------------------------

def _run(fn: Callable[[Store], Awaitable[T]], path: Path) -> T:
    async def main() -> T:
        store = await Store.open(path)
        try:
            return await fn(store)
        finally:
            await store.close()

    return asyncio.run(main())


async def _session(store: Store, sid: str, provider: str = "scripted", *,
                   name: str | None = None, parent: str | None = None,
                   state: str = "idle") -> None:
    rec = SessionRecord(id=sid, name=name, provider=provider, state=state, cwd="/tmp",
                        tmux_session=f"sm-{sid}", parent_id=parent, options={},
                        created_at=1.0, updated_at=1.0, token_hash=f"h-{sid}")
    async with store.write() as conn:
        await store.sessions.insert(conn, rec)


def _response(key: str, output: int, model: str = "claude-opus-5-5", ts: float = 1.0,
              **counts: int) -> Response:
    return Response(key, ts, model, Tokens(output=output, **counts))


def test_a_response_recorded_again_updates_its_row_and_the_totals(tmp_path: Path) -> None:
    async def go(store: Store) -> Any:
        await _session(store, "s1")
        async with store.write() as conn:
            await store.usage.record(conn, "s1", [
                _response("a", 1, input=10, cache_read=100), _response("b", 7, input=3)],
                project="/p", now=2.0)
        async with store.write() as conn:  # the same responses, read again: final counts
            await store.usage.record(conn, "s1", [
                _response("a", 40, input=10, cache_read=100), _response("b", 2, input=3),
                _response("c", 1, model="other", input=1)], project="/p", now=3.0)
        totals = await store.usage.sums("model", ["s1"])
        rows = await store.usage.sums("model", ["s1"], since=0.0)  # the rows themselves
        return totals, rows

    totals, rows = _run(go, tmp_path / "sm.db")
    assert totals == rows
    by_model = {s.model: s for s in totals}
    assert by_model["claude-opus-5-5"].responses == 2
    # "a": the later, larger output; "b": output never goes down
    assert by_model["claude-opus-5-5"].tokens == Tokens(input=13, output=47, cache_read=100)
    assert by_model["other"].tokens == Tokens(input=1, output=1)


def test_usage_by_day_and_since(tmp_path: Path) -> None:
    day1, day2 = 1_796_169_600.0, 1_796_256_000.0  # 2026-12-02 and 2026-12-03, 00:00 UTC

    async def go(store: Store) -> Any:
        await _session(store, "s1")
        await _session(store, "s2")
        async with store.write() as conn:
            await store.usage.record(conn, "s1", [_response("a", 1, ts=day1 + 5)],
                                     project=None, now=0)
            await store.usage.record(conn, "s2", [_response("b", 2, ts=day2 + 5),
                                                  _response("c", 3, ts=day2 + 9)],
                                     project=None, now=0)
        return (await store.usage.sums("day"), await store.usage.sums(None, since=day2),
                await store.usage.sums("session", ["s2"]))

    days, since, s2 = _run(go, tmp_path / "sm.db")
    assert [(s.key, s.responses) for s in days] == [("2026-12-02", 1), ("2026-12-03", 2)]
    assert [(s.responses, s.tokens.output) for s in since] == [(2, 5)]
    assert [(s.key, s.responses) for s in s2] == [("s2", 2)]


def test_hourly_totals_answer_exactly_what_the_rows_say(tmp_path: Path) -> None:
    import random

    rng = random.Random(3)
    start = 1_796_169_600.0  # 2026-12-02 00:00 UTC
    responses = [_response(f"k{n}", rng.randrange(100), model=rng.choice("ab"),
                           ts=start + rng.random() * 3 * 86400, input=rng.randrange(1000),
                           cache_read=rng.randrange(50))
                 for n in range(600)]
    sinces = [None, start, start + 3600, start + 5000.5, start + 86400 * 2 + 1, start + 1e6]

    async def go(store: Store) -> list[tuple[Any, Any, Any]]:
        await _session(store, "s1")
        await _session(store, "s2")
        async with store.write() as conn:
            await store.usage.record(conn, "s1", responses[:300], project=None, now=0)
            await store.usage.record(conn, "s2", responses[300:], project=None, now=0)
        out = []
        for group in (None, "model", "day"):
            for since in sinces:
                got = await store.usage.sums(group, None, since)  # type: ignore[arg-type]
                out.append((group, since, got))
        return out

    for group, since, got in _run(go, tmp_path / "sm.db"):
        expected: dict[tuple[str, str], list[int]] = {}
        for r in responses:
            if since is not None and r.ts < since:
                continue
            key = (time.strftime("%Y-%m-%d", time.gmtime(r.ts)) if group == "day" else "",
                   r.model)
            acc = expected.setdefault(key, [0, 0, 0, 0])
            for i, v in enumerate((1, r.tokens.input, r.tokens.output, r.tokens.cache_read)):
                acc[i] += v
        assert {(s.key, s.model): [s.responses, s.tokens.input, s.tokens.output,
                                   s.tokens.cache_read] for s in got} == expected, (group, since)


# -- the meter -------------------------------------------------------------------------------

def _line(mid: str, ts: str, output: int = 5, **usage: int) -> str:
    return json.dumps({"type": "assistant", "requestId": f"r-{mid}", "timestamp": ts,
                       "message": {"id": mid, "model": "claude-opus-5-5",
                                   "usage": {"output_tokens": output, **usage}}}) + "\n"


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def test_meter_reads_at_turn_ends_and_raises_one_context_event_per_crossing(
    tmp_path: Path,
) -> None:
    transcript = tmp_path / "sessions" / "s1" / "transcripts" / "c.jsonl"
    transcript.parent.mkdir(parents=True)

    async def go(store: Store) -> Any:
        await _session(store, "s1")
        bus = EventBus()
        seen: list[EventRecord] = []

        async def listen(event: EventRecord) -> None:
            seen.append(event)

        bus.listen(listen)
        meter = Meter(store, bus, {"scripted": ClaudeTranscripts("transcripts", ("*.jsonl",))},
                      sessions_dir=tmp_path / "sessions",
                      prices=PriceTable({}, {"claude-opus-5-5": 1000}), threshold=0.8)
        bus.listen(meter.on_event)
        await meter.start()

        async def turn_end(seq: int) -> None:
            await bus.publish([EventRecord(seq, 0.0, "s1", "hook", {"event": "Stop"})])

        async def settle() -> None:
            for _ in range(200):
                if not meter._pending:  # the worker took it
                    break
                await asyncio.sleep(0.01)
            await meter.refresh(["s1"])  # waits for a read under way

        transcript.write_text(_line("m1", "2026-12-01T00:00:01Z", input_tokens=900))
        await turn_end(1)
        await settle()
        _append(transcript, _line("m2", "2026-12-01T00:00:02Z", input_tokens=950))
        await turn_end(2)
        await settle()
        _append(transcript, _line("m3", "2026-12-01T00:00:03Z", input_tokens=10))
        await turn_end(3)
        await settle()
        _append(transcript, _line("m4", "2026-12-01T00:00:04Z", input_tokens=10,
                                  cache_read_input_tokens=800))
        await turn_end(4)
        await settle()
        await meter.close()
        return seen, await store.usage.context("s1"), await store.usage.sums(None)

    seen, ctx, sums = _run(go, tmp_path / "sm.db")
    alerts = [e for e in seen if e.kind == "context"]
    assert [a.payload["tokens"] for a in alerts] == [900, 810]  # crossed, re-armed, crossed
    assert alerts[0].payload["percent"] == 90.0
    assert ctx is not None and (ctx.tokens, ctx.window, ctx.alerted) == (810, 1000, True)
    assert sums[0].responses == 4


def test_a_context_crossing_tells_the_live_parent_once(tmp_path: Path) -> None:
    sessions = tmp_path / "sessions"

    def write(sid: str, mid: str, ts: str, tokens: int) -> None:
        path = sessions / sid / "transcripts" / "c.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        _append(path, _line(mid, ts, input_tokens=tokens))

    async def go(store: Store) -> Any:
        await _session(store, "boss", name="boss")
        await _session(store, "w", name="worker", parent="boss")
        await _session(store, "orphan")
        await _session(store, "gone", state="exited")
        await _session(store, "late", name="late", parent="gone")
        bus = EventBus()
        queue = Queue(store, bus, max_bytes=10_000)
        meter = Meter(store, bus, {"scripted": ClaudeTranscripts("transcripts", ("*.jsonl",))},
                      sessions_dir=sessions, prices=PriceTable({}, {"claude-opus-5-5": 200_000}),
                      threshold=0.8, queue=queue)
        for n, tokens in enumerate((170_000, 180_000, 1_000, 166_000)):  # over, over, under, over
            for sid in ("w", "orphan", "late"):
                write(sid, f"{sid}{n}", f"2026-12-01T00:00:0{n}Z", tokens)
                await meter.ingest(sid)
        await queue.close()
        return [(m.target_id, m.sender_label, m.mode, m.body)
                for m in await store.messages.list(limit=100)]

    got = sorted(_run(go, tmp_path / "sm.db"))
    notice = "context: worker is at {}% of its 200k window (claude-opus-5-5): hand off or " \
        "clear (sm clear worker)"
    assert got == [("boss", "sm", "sequential", notice.format(83)),
                   ("boss", "sm", "sequential", notice.format(85))]


def test_window_sizes_read_as_models_are_spoken_of() -> None:
    assert [window_text(n) for n in (200_000, 1_000_000, 258_400, 1_500_000, 999)] == [
        "200k", "1M", "258k", "1.5M", "999"]


def test_session_costs_follow_every_read(tmp_path: Path) -> None:
    transcript = tmp_path / "sessions" / "s1" / "transcripts" / "c.jsonl"
    transcript.parent.mkdir(parents=True)

    async def go(store: Store) -> list[int]:
        await _session(store, "s1")
        reader = ClaudeTranscripts("transcripts", ("*.jsonl",))
        meter = Meter(store, EventBus(), {"scripted": reader},
                      sessions_dir=tmp_path / "sessions", prices=PriceTable(), threshold=0)
        seen = [len(await meter.costs())]
        for n in range(3):
            _append(transcript, _line(f"m{n}", "2026-12-01T00:00:01Z", input_tokens=1000))
            await meter.ingest("s1")
            seen.append((await meter.costs())["s1"].cost_micros)
        return seen

    # claude-opus-5-5: $4 per million input tokens, $20 per million output (5 a line)
    assert _run(go, tmp_path / "sm.db") == [0, 4100, 8200, 12300]


def test_meter_ignores_sessions_without_a_reader(tmp_path: Path) -> None:
    async def go(store: Store) -> int:
        await _session(store, "sh", provider="shell")
        meter = Meter(store, EventBus(), {}, sessions_dir=tmp_path, prices=PriceTable(),
                      threshold=0.8)
        return await meter.ingest("sh") + await meter.ingest("nobody")

    assert _run(go, tmp_path / "sm.db") == 0


# -- the CLI's pure parts --------------------------------------------------------------------

def test_since_spans_dates_and_bad_input() -> None:
    now = 1_000_000.0
    assert parse_since("30m", now) == now - 1800
    assert parse_since("2h", now) == now - 7200
    assert parse_since("1w", now) == now - 604800
    assert parse_since("2026-12-01T00:00:00+00:00") == 1_796_083_200.0
    with pytest.raises(InvalidInput, match="expected a span"):
        parse_since("yesterday-ish", now)


def test_cost_and_context_cells() -> None:
    assert cost_text(0) == "" and cost_text(0, ["m"]) == "?"
    assert cost_text(1_234_567) == "$1.23" and cost_text(1_234_567, ["m"]) == "$1.23+?"
    assert cost_text(123_456_000_000) == "$123,456"
    assert context_text(None) == ""
    assert context_text({"tokens": 5000, "percent": 45.4}) == "45%"
    assert context_text({"tokens": 120_000, "percent": None}) == "120k"


def test_sm_list_fits_80_columns() -> None:
    row = {"name": "a-long-session-name", "id": "0123456789", "provider": "claude",
           "state": "waiting_permission", "created_at": 0.0, "parent_id": "9876543210",
           "status_text": "writing the migration for the usage tables", "cost_micros": 12_345_678,
           "unpriced_models": ["x"], "context": {"tokens": 1, "percent": 99.5}}
    idle = {**row, "state": "idle", "unpriced_models": [], "id": "1111111111"}
    text = format_sessions([row], now=100_000.0, cols=80)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "$12.35+?" in text and "100%" in text and "waiting_permission" in text
    # without the widest state every column stays
    text = format_sessions([idle], now=100_000.0, cols=80)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    header = text.splitlines()[0].split()
    assert header == ["NAME", "ID", "PROVIDER", "STATE", "AGE", "COST", "CTX", "PARENT", "LAST"]
    # nobody has spent anything: no COST and CTX columns
    bare = {k: v for k, v in idle.items() if k not in ("cost_micros", "unpriced_models",
                                                       "context")}
    assert "COST" not in format_sessions([bare], now=100_000.0, cols=80)


# -- the scripted agent's usage action -------------------------------------------------------

def test_scripted_usage_action_writes_claude_code_lines(tmp_path: Path) -> None:
    from sm.agents.scripted_script import ScriptError, Usage, load_script
    from sm.agents.scripted_turn import usage_records

    script = load_script("default: [{usage: {model: m, input: 5, output: 9, blocks: 3}}]", "s")
    (action,) = script.plan("hi", "c")
    assert action == Usage("m", input=5, output=9, blocks=3)
    lines = usage_records(action, 1_796_256_000.25)
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    chunk = ClaudeTranscripts().parse(path, 0, {})
    assert [r.tokens.output for r in chunk.responses] == [1, 1, 9]  # partial, then final
    assert len({r.key for r in chunk.responses}) == 1
    assert chunk.responses[0].ts == 1_796_256_000.25
    for bad, message in (("{model: m, input: -1}", "input: expected a non-negative"),
                         ("{model: m, inptu: 1}", "unknown key 'inptu'"),
                         ("{input: 1}", "expected a string")):
        with pytest.raises(ScriptError, match=message):
            load_script(f"default: [{{usage: {bad}}}]", "s")
