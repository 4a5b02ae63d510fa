"""The transcript and rollout readers on records of the real CLIs (Claude Code 2.1.330, Codex
0.169.0; recorded by tests/e2e/test_usage_exact.py, see fixtures/usage/README.md): counted once per
API response, equal to the model server's own sum; read in any pieces; bad lines skipped."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sm.agents.claude_usage import ClaudeTranscripts, telemetry
from sm.agents.codex_usage import CodexRollouts
from sm.agents.usage import Chunk, Response, TranscriptReader, lines

FIXTURES = Path(__file__).parent / "fixtures" / "usage"
CLAUDE = ClaudeTranscripts(root="claude", patterns=("*/*.jsonl", "*/*/subagents/*.jsonl"))
CODEX = CodexRollouts(root="codex/sessions")


def _read_all(reader: TranscriptReader, base: Path, step: int | None = None) -> list[Chunk]:
    """Every file read to its end; with ``step``, the files grow ``step`` bytes at a time
    (a copy appended to piece by piece) and are read after every piece."""
    chunks = []
    for path in reader.files(base):
        if step is None:
            chunks.append(reader.parse(path, 0, {}))
            continue
        data, grown = path.read_bytes(), base / "growing" / path.name
        grown.parent.mkdir(parents=True, exist_ok=True)
        offset, state = 0, {}
        with grown.open("wb") as out:
            for start in range(0, len(data), step):
                out.write(data[start:start + step])
                out.flush()
                chunk = reader.parse(grown, offset, state)
                offset, state = chunk.offset, chunk.state
                chunks.append(chunk)
        assert offset == len(data)
    return chunks


def _dedupe(responses: Iterable[Response]) -> dict[str, Response]:
    """The store's rule: one row per key, the later record wins, output never shrinks."""
    rows: dict[str, Response] = {}
    for r in responses:
        old = rows.get(r.key)
        if old is not None and old.tokens.output > r.tokens.output:
            r = replace(r, tokens=replace(r.tokens, output=old.tokens.output))
        rows[r.key] = r
    return rows


def _claude_sums(rows: Iterable[Response]) -> dict[str, int]:
    rows = list(rows)
    return {
        "responses": len(rows),
        "input_tokens": sum(r.tokens.input for r in rows),
        "output_tokens": sum(r.tokens.output for r in rows),
        "cache_creation_input_tokens": sum(r.tokens.cache_write for r in rows),
        "ephemeral_5m_input_tokens": sum(r.tokens.cache_write_5m for r in rows),
        "ephemeral_1h_input_tokens": sum(r.tokens.cache_write_1h for r in rows),
        "cache_read_input_tokens": sum(r.tokens.cache_read for r in rows),
    }


def _codex_sums(rows: Iterable[Response]) -> dict[str, int]:
    rows = list(rows)
    return {
        "responses": len(rows),
        "input_tokens": sum(r.tokens.input + r.tokens.cache_read + r.tokens.cache_write
                            for r in rows),
        "cached_tokens": sum(r.tokens.cache_read for r in rows),
        "output_tokens": sum(r.tokens.output for r in rows),
        "reasoning_tokens": sum(r.tokens.reasoning for r in rows),
    }


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name / "expected.json").read_text())
    return data


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURES, tmp_path / "usage")
    return tmp_path / "usage"


# -- Claude Code ---------------------------------------------------------------------------

def test_claude_transcripts_count_each_response_once(fixtures: Path) -> None:
    chunks = _read_all(CLAUDE, fixtures)
    responses = [r for c in chunks for r in c.responses]
    rows = _dedupe(responses)
    assert _claude_sums(rows.values()) == _expected("claude")["main"]
    # a multi-block response is several lines with the same usage: adding every line
    # over-counts, which is the mistake this guards against
    assert len(responses) > len(rows)
    assert _claude_sums(responses)["output_tokens"] > _expected("claude")["main"]["output_tokens"]
    # the subagent's responses are its own, and its transcript was found
    assert {r.agent for r in rows.values()} == {"", "af9cb4ae1929a4db9"}
    assert sum(len(c.errors) for c in chunks) == 1
    error = next(e for c in chunks for e in c.errors)
    assert (error.kind, error.message) == ("api_error", "API Error: 400 scripted bad request")
    assert all(c.skipped == 0 for c in chunks)


@pytest.mark.parametrize("step", [7, 97, 4096])
def test_claude_transcripts_read_in_pieces_give_the_same_totals(fixtures: Path, step: int):
    main = fixtures / "claude" / "work"
    for f in list(main.rglob("*.jsonl")):
        f.rename(main / f.name)  # one flat directory for the growing copies
    reader = ClaudeTranscripts(root="claude/work", patterns=("*.jsonl",))
    rows = _dedupe(r for c in _read_all(reader, fixtures, step) for r in c.responses)
    assert _claude_sums(rows.values()) == _expected("claude")["main"]


def test_the_final_output_count_wins_in_either_order() -> None:
    from sm.agents.usage import Tokens

    partial = Response("m:r", 1.0, "claude-x", Tokens(input=5, output=1))
    final = Response("m:r", 1.0, "claude-x", Tokens(input=5, output=40))
    for order in ([partial, final], [final, partial]):
        (row,) = _dedupe(order).values()
        assert row.tokens.output == 40


def test_bad_lines_are_skipped_and_counted_a_partial_line_waits(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    good = {"type": "assistant", "requestId": "r1", "timestamp": "2026-12-01T10:00:00Z",
            "message": {"id": "m1", "model": "claude-opus-5-5",
                        "usage": {"input_tokens": 3, "output_tokens": 2}}}
    path.write_text("not json\n[1, 2]\n\n" + json.dumps(good) + "\n"
                    + '{"type": "assistant", "message": {"id": "m2"')
    chunk = ClaudeTranscripts().parse(path, 0, {})
    assert chunk.skipped == 2
    assert [r.key for r in chunk.responses] == ["m1:r1"]
    assert chunk.offset == path.stat().st_size - len('{"type": "assistant", "message": {"id": "m2"')
    with path.open("a") as f:
        f.write(', "model": "claude-opus-5-5", "usage": {"input_tokens": 1}}}\n')
    later = ClaudeTranscripts().parse(path, chunk.offset, chunk.state)
    assert [r.key for r in later.responses] == ["m2:"] and later.skipped == 0
    assert later.responses[0].ts == 0.0  # no timestamp: 0, never a crash


def test_synthetic_messages_and_lines_without_usage_are_not_responses(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    rows = [
        {"type": "assistant", "message": {"id": "s", "model": "<synthetic>",
                                          "usage": {"input_tokens": 0, "output_tokens": 0}}},
        {"type": "assistant", "message": {"id": "n", "model": "claude-opus-5-5"}},
        {"type": "user", "message": {"id": "u", "usage": {"input_tokens": 9}}},
        {"type": "assistant", "message": "a string"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    chunk = ClaudeTranscripts().parse(path, 0, {})
    assert chunk.responses == [] and chunk.skipped == 0


def test_cache_writes_without_the_split_count_as_five_minute_writes(tmp_path: Path) -> None:
    from sm.agents.claude_usage import tokens

    assert tokens({"cache_creation_input_tokens": 70}).cache_write_5m == 70
    split = tokens({"cache_creation_input_tokens": 70, "cache_creation": {
        "ephemeral_5m_input_tokens": 30, "ephemeral_1h_input_tokens": 40}})
    assert (split.cache_write_5m, split.cache_write_1h) == (30, 40)


def test_a_file_rewritten_shorter_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"a": 1}\n' * 10)
    found, end = lines(path, 0)
    path.write_text('{"b": 2}\n')
    again, end2 = lines(path, end)
    assert [raw for _, raw in again] == [b'{"b": 2}'] and end2 == 9


# -- Codex -----------------------------------------------------------------------------------

def test_codex_rollouts_count_deltas_and_a_fork_not_its_parent(fixtures: Path) -> None:
    chunks = _read_all(CODEX, fixtures)
    rows = _dedupe(r for c in chunks for r in c.responses)
    assert _codex_sums(rows.values()) == _expected("codex")["main"]
    # the fork's running total starts at its parent's: counting totals from zero would
    # count the parent's history twice
    fork = next(p for p in CODEX.files(fixtures) if '"forked_from_id"' in p.read_text())
    first_total = next(
        json.loads(x)["payload"]["info"]["total_token_usage"]["input_tokens"]
        for x in fork.read_text().splitlines() if '"token_count"' in x)
    first_counted = next(c for c, p in zip(chunks, CODEX.files(fixtures), strict=True)
                         if p == fork).responses[0]
    assert first_total > first_counted.tokens.input + first_counted.tokens.cache_read
    assert all(r.window == 258400 and r.model == "gpt-5-codex" for r in rows.values())


@pytest.mark.parametrize("step", [7, 113, 8192])
def test_codex_rollouts_read_in_pieces_give_the_same_totals(fixtures: Path, step: int):
    rows = _dedupe(r for c in _read_all(CODEX, fixtures, step) for r in c.responses)
    assert _codex_sums(rows.values()) == _expected("codex")["main"]


def _token_count(total: list[int], last: list[int] | None, ts: str = "2026-12-01T00:00:00Z"
                 ) -> dict[str, Any]:
    names = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")
    info: dict[str, Any] = {"total_token_usage": dict(zip(names, total, strict=True)),
                            "model_context_window": 1000}
    if last is not None:
        info["last_token_usage"] = dict(zip(names, last, strict=True))
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}}


def test_codex_skips_re_emissions_and_restarts_when_a_total_goes_down(tmp_path: Path) -> None:
    base = tmp_path / "codex" / "sessions" / "2026" / "12" / "01"
    base.mkdir(parents=True)
    path = base / "rollout-x.jsonl"
    records = [
        {"type": "turn_context", "payload": {"model": "gpt-6-sol"}},
        {"type": "event_msg", "payload": {"type": "token_count", "info": None}},  # rate limits
        _token_count([100, 40, 10, 2], [100, 40, 10, 2]),
        _token_count([100, 40, 10, 2], [100, 40, 10, 2]),  # re-emitted unchanged
        _token_count([250, 90, 30, 2], [150, 50, 20, 0]),
        _token_count([60, 0, 5, 0], [60, 0, 5, 0]),  # the total went down: starts over
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    chunk = CODEX.parse(path, 0, {})
    got = [(r.tokens.input, r.tokens.cache_read, r.tokens.output, r.tokens.reasoning)
           for r in chunk.responses]
    assert got == [(60, 40, 10, 2), (100, 50, 20, 0), (60, 0, 5, 0)]
    assert {r.model for r in chunk.responses} == {"gpt-6-sol"}
    assert chunk.responses[1].context == 150 and chunk.responses[1].window == 1000


# -- Claude Code's OpenTelemetry export -----------------------------------------------------

def test_telemetry_api_requests_per_sm_session() -> None:
    def attr(key: str, value: Any) -> dict[str, Any]:
        kind = "intValue" if isinstance(value, int) else "stringValue"
        return {"key": key, "value": {kind: str(value) if kind == "intValue" else value}}

    record = {"attributes": [
        attr("event.name", "api_request"), attr("request_id", "req_1"),
        attr("model", "claude-haiku-5-5"), attr("query_source", "generate_session_title"),
        attr("input_tokens", 73), attr("output_tokens", 10), attr("cache_read_tokens", 5),
        attr("cache_creation_tokens", 30), attr("cache_creation_5m_tokens", 10),
        attr("cache_creation_1h_tokens", 20), attr("cost_usd_micros", 12),
        attr("event.timestamp", "2026-12-03T12:42:06.682Z"),
    ]}
    other = {"attributes": [attr("event.name", "user_prompt")]}
    doc = {"resourceLogs": [
        {"resource": {"attributes": [attr("sm.session", "abc")]},
         "scopeLogs": [{"logRecords": [record, other]}]},
        {"resource": {"attributes": []}, "scopeLogs": [{"logRecords": [record]}]},  # not ours
    ]}
    ((session, (requests, errors)),) = telemetry(doc).items()
    assert session == "abc" and errors == []
    (req,) = requests
    assert (req.request_id, req.model, req.query_source) == (
        "req_1", "claude-haiku-5-5", "generate_session_title")
    t = req.tokens
    assert (t.input, t.output, t.cache_write_5m, t.cache_write_1h, t.cache_read) == (
        73, 10, 10, 20, 5)
    assert req.agent_cost_micros == 12
    assert telemetry("nonsense") == {} and telemetry({"resourceLogs": [1, None]}) == {}
