"""Usage: what reading an agent's records costs per turn, and ``sm usage`` over a big store.

    .venv/bin/python bench/usage.py [--turns 200] [--rows 1000000] [--sessions 1000] [--runs 20]

1. Ingestion, in process (a real store on a temp path): a Claude Code-shaped transcript
   grows by one turn at a time (``--responses`` API responses of three content-block lines
   each, plus the user, system and attachment lines a real turn has, ~30 KB); after each
   turn the meter reads what is new. Printed: the wall time of a read (ms per turn), the
   share spent parsing in the worker thread next to a bare ``json.loads`` of the same
   lines, and the event loop's longest stall meanwhile (reading happens off the loop).
2. ``sm usage`` over ``--rows`` response rows across ``--sessions`` sessions, five models
   and 30 days: each query's answer from the daemon (a kept-alive client), and the real
   CLI end to end (most of which is starting Python and typer).

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import ROOT, SM, daemon, line, stats, timed  # noqa: E402

sys.path.insert(0, str(ROOT))
from sm.agents.claude_usage import ClaudeTranscripts  # noqa: E402
from sm.client import Client  # noqa: E402
from sm.core.events import EventBus  # noqa: E402
from sm.core.prices import PriceTable  # noqa: E402
from sm.core.usage import Meter  # noqa: E402
from sm.store import Store  # noqa: E402
from sm.store.sessions import SessionRecord  # noqa: E402

MODELS = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "gpt-5-codex", "gpt-6-sol")


def _turn_lines(turn: int, responses: int) -> list[str]:
    """One turn as Claude Code writes it: the prompt, attachments, and each response as
    one line per content block, each with the same usage."""
    out = [json.dumps({"type": "user", "message": {"role": "user", "content": f"turn {turn}"}})]
    out += [json.dumps({"type": "attachment", "attachment": {"content": "x" * 2000}})] * 5
    for r in range(responses):
        usage = {"input_tokens": 100 + r, "output_tokens": 50, "cache_read_input_tokens": 9000,
                 "cache_creation_input_tokens": 300,
                 "cache_creation": {"ephemeral_5m_input_tokens": 0,
                                    "ephemeral_1h_input_tokens": 300}}
        for block in range(3):
            out.append(json.dumps({
                "type": "assistant", "requestId": f"req_{turn}_{r}",
                "timestamp": "2026-12-03T12:00:00.000Z",
                "message": {"id": f"msg_{turn}_{r}", "model": "claude-opus-5-5",
                            "content": [{"type": "text", "text": "y" * 400 * (block + 1)}],
                            "usage": usage}}))
        out.append(json.dumps({"type": "user", "message": {"content": [
            {"type": "tool_result", "content": "z" * 1500}]}}))
    out.append(json.dumps({"type": "system", "subtype": "turn_duration", "durationMs": 900}))
    return out


async def _ingestion(turns: int, responses: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="smb-usage-"))
    store = await Store.open(home / "sm.db")
    rec = SessionRecord(id="s1", name=None, provider="claude", state="idle", cwd="/tmp",
                        tmux_session="sm-s1", parent_id=None, options={}, created_at=0.0,
                        updated_at=0.0, token_hash="h")
    async with store.write() as conn:
        await store.sessions.insert(conn, rec)
    transcript = home / "sessions" / "s1" / "claude" / "projects" / "w" / "c.jsonl"
    transcript.parent.mkdir(parents=True)
    meter = Meter(store, EventBus(), {"claude": ClaudeTranscripts()},
                  sessions_dir=home / "sessions", prices=PriceTable(), threshold=0.8)
    stall = 0.0
    running = True

    async def ticker() -> None:
        nonlocal stall
        while running:
            t0 = time.perf_counter()
            await asyncio.sleep(0.001)
            stall = max(stall, time.perf_counter() - t0 - 0.001)

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(2.0)
    idle_stall, stall = stall, 0.0
    reads: list[float] = []
    parses: list[float] = []
    bares: list[float] = []
    sizes: list[int] = []
    reader = ClaudeTranscripts()
    for turn in range(turns):
        text = "\n".join(_turn_lines(turn, responses)) + "\n"
        sizes.append(len(text))
        offset = transcript.stat().st_size if transcript.exists() else 0
        with transcript.open("a") as f:
            f.write(text)
        t0 = time.perf_counter()
        await meter.ingest("s1")
        reads.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        reader.parse(transcript, offset, {})
        parses.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        for raw in text.splitlines():
            json.loads(raw)
        bares.append((time.perf_counter() - t0) * 1000)
    running = False
    await tick
    totals = await store.usage.sums(None)
    await store.close()
    shutil.rmtree(home, ignore_errors=True)
    parse, bare_json = stats(parses), stats(bares)
    kb = sum(sizes) / len(sizes) / 1024
    print(f"\n1. ingestion: {turns} turns, {responses} responses × 3 lines a turn, "
          f"{kb:.0f} KB a turn; {totals[0].responses} responses recorded")
    line("read one turn (thread + one transaction)", stats(reads))
    line("  of which parsing (the reader)", parse,
         extra=f"  ratio to bare json.loads: {parse['p50'] / bare_json['p50']:.2f}×")
    line("  bare json.loads of the same lines", bare_json)
    print(f"{'event loop longest stall meanwhile':<44} {stall * 1000:8.2f} ms   "
          f"(the same loop idle for 2 s before: {idle_stall * 1000:.2f} ms)")


def _fill(home: Path, rows: int, sessions: int) -> None:
    asyncio.run(_migrate(home / "sm.db"))
    db = sqlite3.connect(home / "sm.db")
    db.execute("PRAGMA synchronous = OFF")  # a bulk fill, not the daemon's writes
    db.execute("PRAGMA cache_size = -262144")
    now = time.time()
    db.executemany(
        "INSERT INTO sessions (id, name, provider, state, cwd, tmux_session, token_hash, "
        "options, created_at, updated_at) VALUES (?, ?, 'claude', 'exited', '/tmp', ?, ?, "
        "'{}', ?, ?)",
        [(f"s{i:05d}", f"agent{i}", f"sm-s{i:05d}", f"h{i}", now, now) for i in range(sessions)])
    rng = random.Random(7)

    def batch(start: int, size: int) -> list[tuple[object, ...]]:
        out = []
        for n in range(start, start + size):
            ts = now - rng.random() * 30 * 86400
            out.append((f"k{n}", f"s{rng.randrange(sessions):05d}", ts, rng.choice(MODELS),
                        f"r{n}", rng.randrange(50, 5000), rng.randrange(10, 2000),
                        rng.randrange(0, 3000), rng.randrange(0, 3000),
                        rng.randrange(0, 90000), now))
        return out

    t0 = time.perf_counter()
    for start in range(0, rows, 50_000):
        db.executemany(
            "INSERT INTO usage_responses (key, session_id, ts, model, request_id, input_tokens, "
            "output_tokens, reasoning_tokens, cache_write_5m_tokens, cache_write_1h_tokens, "
            "cache_read_tokens, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
            batch(start, min(50_000, rows - start)))
        db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # else the daemon reads through the WAL
    print(f"   filled {rows:,} rows in {time.perf_counter() - t0:.1f} s "
          f"({(home / 'sm.db').stat().st_size / 2**20:.0f} MiB)")
    db.close()


async def _migrate(path: Path) -> None:
    store = await Store.open(path)
    await store.close()


def _queries(rows: int, sessions: int, runs: int) -> None:
    print(f"\n2. sm usage over {rows:,} response rows, {sessions} sessions, 30 days "
          "(the real CLI and daemon)")
    home = Path(tempfile.mkdtemp(prefix="smb-", dir="/tmp"))
    _fill(home, rows, sessions)
    base = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), runs)
    line("bare python -c pass", base)
    with daemon(str(home)) as env:
        client = Client(home=str(home), token="")

        def sm(*args: str) -> None:
            subprocess.run([SM, *args], env=env, check=True, capture_output=True)

        sm("usage", "--json")  # warm the page cache
        week = {"since": time.time() - 7 * 86400}
        for label, args, path, query in (
            ("total (running totals)", ("usage",), "/usage", {}),
            ("--by model", ("usage", "--by", "model"), "/usage", {"by": "model"}),
            ("--by session", ("usage", "--by", "session"), "/usage", {"by": "session"}),
            ("--by day (hourly totals)", ("usage", "--by", "day"), "/usage", {"by": "day"}),
            ("--since 7d (hourly totals + rows)", ("usage", "--since", "7d"), "/usage", week),
            ("--by session --since 7d (rows)", ("usage", "--by", "session", "--since", "7d"),
             "/usage", {"by": "session", **week}),
            ("SESSION (its rows by index)", ("usage", "agent7"), "/usage",
             {"session": "agent7"}),
            (f"sm list ({sessions} sessions)", ("list",), "/usage/sessions", {}),
        ):
            answer = timed(lambda p=path, q=query: client.get(p, **q), runs)
            cli = timed(lambda a=args: sm(*a, "--json"), runs)
            line(f"{label}: daemon", answer)
            line("  the CLI, end to end", cli,
                 extra=f"  ratio to bare python: {cli['p50'] / base['p50']:.1f}×")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--turns", type=int, default=200)
    p.add_argument("--responses", type=int, default=5)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--sessions", type=int, default=1000)
    p.add_argument("--runs", type=int, default=20)
    args = p.parse_args()
    asyncio.run(_ingestion(args.turns, args.responses))
    _queries(args.rows, args.sessions, args.runs)


if __name__ == "__main__":
    main()
