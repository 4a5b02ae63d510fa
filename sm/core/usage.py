"""Usage: what each session spent, read from the agents' own records, and how full its
context window is.

The agent's hooks say when to read: a turn ended (Stop, StopFailure, Codex's notify,
Interrupt), a subagent stopped, the conversation is compacted or ends, the session
died. ``Meter.on_event`` (a bus listener) only notes the session; a worker task reads
every record file of the session that grew since the offset the store keeps, in a
thread (never on the event loop), and writes the responses, the new offsets and the
context in one transaction. Nothing polls the files. A query reads what is new first
(``refresh``), so a report is exact as of the moment it is asked.

When a session's context (its last request's prompt: input + cache writes + cache
reads) reaches ``usage.context_threshold`` of the model's window, a ``context`` event
is written once, and the session's live parent gets a notice from sm in the same
transaction; it re-arms when the context falls below (a clear, a compaction).

Every read that found responses also writes a ``usage`` event in its transaction —
``{cost_micros, unpriced_models, context, responses}``, the session's cost so far and
its context now — so that the live views (``sm watch``, the web dashboard) follow what
each session spends as it is read, without asking.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sm.agents.usage import ApiError, Chunk, Response, TelemetryRequest, Tokens, TranscriptReader
from sm.core.delivery.queue import Queue
from sm.core.events import EventBus
from sm.core.prices import PriceTable, micros
from sm.core.state import TURN_ENDS
from sm.errors import SmError
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.sessions import SessionRecord
from sm.store.usage import Context, Group, Source, Sum
from sm.vocab import DEAD, DeliveryMode, EventKind

log = logging.getLogger("sm.usage")

# hooks after which an agent's records have grown: a turn's end, and a tool call's end
# (the response that asked for the tool is written by then), so that a budget can stop
# a turn while it runs
READ_AFTER = TURN_ENDS | {"SessionEnd", "SubagentStop", "PreCompact", "PostCompact",
                          "PostToolUse", "PostToolUseFailure"}
# (the usage insert's connection, the session, now): what the new usage causes, written
# in the same transaction (a budget's warning or stop)
UsageCheck = Callable[[Any, SessionRecord, float], Awaitable[Sequence[EventRecord | None]]]


@dataclass(frozen=True)
class Line:
    """One line of a report: a group (a model, a session, a UTC day, or "" for the
    total) with its token counts and cost. ``unpriced`` names the models whose tokens
    are counted here but which have no price: their cost is not in ``cost_micros``."""

    key: str
    responses: int
    tokens: Tokens
    cost_micros: int
    unpriced: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContextUse:
    tokens: int
    window: int | None
    model: str
    ts: float

    @property
    def share(self) -> float | None:
        return self.tokens / self.window if self.window else None

    def public(self) -> dict[str, Any]:
        """The wire shape (``ContextWindow`` in the API): percent of the window, or None
        when the window is unknown."""
        share = self.share
        return {"tokens": self.tokens, "window": self.window, "model": self.model,
                "percent": None if share is None else round(share * 100, 1), "ts": self.ts}


def window_text(tokens: int) -> str:
    """A window's size the way models are spoken of: ``200k``, ``1M``, ``258k``."""
    if tokens >= 1_000_000 and tokens % 100_000 == 0:
        return f"{tokens / 1_000_000:g}M"
    if tokens >= 1000:
        return f"{round(tokens / 1000)}k"
    return str(tokens)


def context_notice(label: str, percent: float, window: int, model: str) -> str:
    """What a parent (and Telegram) is told when a session's context crosses the
    threshold."""
    return (f"context: {label} is at {round(percent)}% of its {window_text(window)} window "
            f"({model or 'unknown model'}): hand off or clear (sm clear {label})")


def summarize(sums: Iterable[Sum], prices: PriceTable, by: Group | None) -> list[Line]:
    """Lines per ``by`` (per model when ``by`` is "model"), sorted by key, each priced
    per model and rounded once."""
    acc: dict[str, _Acc] = {}
    for s in sums:
        key = s.model if by == "model" else s.key if by else ""
        acc.setdefault(key, _Acc()).add(s, prices)
    return [a.line(k) for k, a in sorted(acc.items())]


def total(sums: Iterable[Sum], prices: PriceTable) -> Line:
    """All ``sums`` as one line (priced per model, so equal to pricing them together)."""
    acc = _Acc()
    for s in sums:
        acc.add(s, prices)
    return acc.line("")


@dataclass
class _Acc:
    responses: int = 0
    counts: list[int] = field(default_factory=lambda: [0] * 6)
    scaled: int = 0
    unpriced: set[str] = field(default_factory=set)

    def add(self, s: Sum, prices: PriceTable) -> None:
        t = s.tokens
        self.responses += s.responses
        for i, v in enumerate((t.input, t.output, t.cache_write_5m, t.cache_write_1h,
                               t.cache_read, t.reasoning)):
            self.counts[i] += v
        price = prices.price(s.model)
        if price is None:
            self.unpriced.add(s.model or "(unknown)")
        else:
            self.scaled += price.scaled(t)

    def line(self, key: str) -> Line:
        c = self.counts
        tokens = Tokens(input=c[0], output=c[1], cache_write_5m=c[2], cache_write_1h=c[3],
                        cache_read=c[4], reasoning=c[5])
        return Line(key, self.responses, tokens, micros(self.scaled), tuple(sorted(self.unpriced)))


class Meter:
    """Reads usage when hooks say records grew; answers what was spent."""

    LISTENS = (EventKind.HOOK, EventKind.STATE)  # the kinds ``on_event`` looks at

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        readers: Mapping[str, TranscriptReader],
        *,
        sessions_dir: Path,
        prices: PriceTable,
        threshold: float,
        checks: Sequence[UsageCheck] = (),
        queue: Queue | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``queue``: where a parent's notice goes when its child's context crosses the
        threshold (None: nobody is told; the ``context`` event is written all the same)."""
        self.store = store
        self.queue = queue
        self.checks = tuple(checks)
        self.bus = bus
        self.readers = dict(readers)
        self.sessions_dir = sessions_dir
        self.prices = prices
        self.threshold = threshold
        self.clock = clock
        self._pending: set[str] = set()
        self._failures: list[tuple[str, ApiError]] = []
        self._wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        # each session's total, derived from the store; a read marks its session stale
        self._costs: dict[str, Line] | None = None
        self._stale: set[str] = set()

    # -- triggers -------------------------------------------------------------------------
    async def on_event(self, event: EventRecord) -> None:
        """Bus listener: note the session to read (returns at once)."""
        sid = event.session_id
        if sid is None:
            return
        if event.kind == EventKind.HOOK:
            name = event.payload.get("event")
            if name == "StopFailure":
                self._failures.append((sid, _stop_failure(event)))
            if name in READ_AFTER:
                self.schedule(sid)
        elif event.kind == EventKind.STATE and event.payload.get("to") in DEAD:
            self.schedule(sid)

    def schedule(self, session_id: str) -> None:
        self._pending.add(session_id)
        self._wake.set()

    async def start(self) -> None:
        """Start the reader task; sessions that were live when the daemon stopped are
        read once (their agents may have gone on meanwhile)."""
        for rec in await self.store.sessions.list(live_only=True):
            if rec.provider in self.readers:
                self._pending.add(rec.id)
        self._wake.set()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._record_failures()
            while self._pending:
                sid = self._pending.pop()
                try:
                    await self.ingest(sid)
                except (SmError, OSError, sqlite3.Error) as exc:
                    log.warning("usage of session %s not read: %s", sid, exc)

    async def _record_failures(self) -> None:
        failures, self._failures = self._failures, []
        for sid, error in failures:
            try:
                async with self.store.write() as conn:
                    await self.store.usage.record_errors(conn, sid, [error])
            except sqlite3.Error as exc:
                log.warning("StopFailure of session %s not recorded: %s", sid, exc)

    # -- reading --------------------------------------------------------------------------
    async def refresh(self, session_ids: Iterable[str]) -> None:
        """Read what is new in these sessions' records now."""
        for sid in session_ids:
            await self.ingest(sid)

    async def ingest(self, session_id: str) -> int:
        """Read every record file of the session that grew, in a thread; write the
        responses, errors, offsets and context in one transaction — with what the usage
        checks (budgets) write — then publish a ``context`` event if the threshold was
        crossed. Returns the responses read."""
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            rec = await self.store.sessions.get(session_id)
            reader = self.readers.get(rec.provider) if rec is not None else None
            if rec is None or reader is None:
                return 0
            known = await self.store.usage.sources(session_id)
            chunks = await asyncio.to_thread(
                read_grown, reader, self.sessions_dir / session_id, known)
            if not chunks:
                return 0
            now = self.clock()
            responses = [r for _, c in chunks for r in c.responses]
            async with self.store.write() as conn:
                for path, chunk in chunks:
                    await self.store.usage.record(conn, session_id, chunk.responses,
                                                  project=rec.cwd, now=now)
                    await self.store.usage.record_errors(conn, session_id, chunk.errors)
                    skipped = (known[path].skipped if path in known else 0) + chunk.skipped
                    await self.store.usage.set_source(
                        conn, session_id, Source(path, chunk.offset, skipped, chunk.state), now)
                events = await self._context(conn, rec, responses)
                if responses:
                    read = len({r.key for r in responses})  # a response's lines: once
                    events.append(await self._spent(conn, session_id, read, now))
                    for check in self.checks:
                        events += await check(conn, rec, now)
            if responses:
                self._stale.add(session_id)
            await self.bus.publish(events)
            return len(responses)

    async def _context(
        self, conn: Any, rec: SessionRecord, responses: list[Response]
    ) -> list[EventRecord | None]:
        """The session's context as of its latest main-conversation response; a
        ``context`` event and the parent's notice when it crossed the threshold."""
        session_id = rec.id
        main = [r for r in responses if not r.agent]
        if not main:
            return []
        latest = main[0]
        for r in main:  # the last in record order among equal times
            if r.ts >= latest.ts:
                latest = r
        old = await self.store.usage.context(session_id)
        if old is not None and old.ts > latest.ts:
            return []
        window = latest.window or self.prices.window(latest.model)
        tokens = latest.prompt
        over = bool(window) and self.threshold > 0 and tokens >= self.threshold * (window or 0)
        alerted = old.alerted if old is not None else False
        events: list[EventRecord | None] = []
        if over and not alerted:
            percent = round(100 * tokens / (window or 1), 1)
            events.append(await self.store.events.append(conn, self.clock(), session_id,
                                                         EventKind.CONTEXT, {
                "tokens": tokens, "window": window, "model": latest.model,
                "percent": percent, "threshold": self.threshold,
            }))
            text = context_notice(rec.label, percent, window or 0, latest.model)
            events.append(await self._tell_parent(conn, rec, text))
        await self.store.usage.set_context(conn, Context(
            session_id, latest.model, tokens, window, latest.ts, over))
        return events

    async def _tell_parent(self, conn: Any, rec: SessionRecord, text: str
                           ) -> EventRecord | None:
        """A sequential notice from sm to ``rec``'s parent, in the caller's transaction
        (none without a queue, a parent, or a live one)."""
        if self.queue is None or not rec.parent_id:
            return None
        parent = await self.store.sessions.get(rec.parent_id)
        if parent is None or not parent.is_live:
            return None
        _, told = await self.queue.accept_in(conn, None, "sm", parent, text,
                                             DeliveryMode.SEQUENTIAL, notice=True)
        return told

    async def _spent(self, conn: Any, session_id: str, read: int, now: float
                     ) -> EventRecord | None:
        """The ``usage`` event: the session's cost so far (its running totals, this
        transaction's rows included) and its context now."""
        line = total(await self.store.usage.sums("session", [session_id]), self.prices)
        found = await self.store.usage.context(session_id)
        context = None if found is None else ContextUse(found.tokens, found.window,
                                                        found.model, found.ts).public()
        return await self.store.events.append(conn, now, session_id, EventKind.USAGE, {
            "cost_micros": line.cost_micros, "unpriced_models": list(line.unpriced),
            "context": context, "responses": read})

    # -- telemetry --------------------------------------------------------------------------
    async def record_telemetry(
        self, session_id: str, requests: Sequence[TelemetryRequest],
        errors: Sequence[ApiError] = (),
    ) -> bool:
        """Keep the agent's own per-request reports (requests outside its transcript
        are told apart at query time). False when the session is unknown."""
        if await self.store.sessions.get(session_id) is None:
            return False
        async with self.store.write() as conn:
            await self.store.usage.record_telemetry(conn, session_id, requests)
            await self.store.usage.record_errors(conn, session_id, errors)
        return True

    # -- answers --------------------------------------------------------------------------
    async def lines(
        self, by: Group | None, session_ids: Sequence[str] | None, since: float | None,
        *, side: bool = False,
    ) -> tuple[Line, list[Line]]:
        """The total and the lines per ``by`` of the transcript-counted usage (or, with
        ``side``, of the requests only telemetry saw)."""
        fetch = self.store.usage.side_sums if side else self.store.usage.sums
        sums = await fetch(None if by == "model" else by, session_ids, since)
        return total(sums, self.prices), summarize(sums, self.prices, by)

    async def by_project(self, since: float | None) -> list[Line]:
        """A line per project (the directory its sessions were started in, as budgets
        count it), priced per model and rounded once like every line."""
        sums = await self.store.usage.sums("session", None, since)
        cwd = {sid: await self._cwd(sid) for sid in {s.key for s in sums}}
        return summarize([replace(s, key=cwd[s.key]) for s in sums], self.prices, "session")

    async def _cwd(self, session_id: str) -> str:
        rec = await self.store.sessions.get(session_id)
        return rec.cwd if rec is not None else ""

    async def contexts(self, session_ids: Sequence[str] | None = None) -> dict[str, ContextUse]:
        found = await self.store.usage.contexts(session_ids)
        return {sid: ContextUse(c.tokens, c.window, c.model, c.ts) for sid, c in found.items()}

    async def costs(self) -> dict[str, Line]:
        """Each session's total: from the running totals once, then only the sessions
        read since (this is what ``sm list`` shows on the agents' fast path)."""
        if self._costs is None:
            self._stale.clear()
            sums = await self.store.usage.sums("session")
            self._costs = {line.key: line for line in summarize(sums, self.prices, "session")}
        stale, self._stale = list(self._stale), set()
        if stale:
            sums = await self.store.usage.sums("session", stale)
            self._costs.update((line.key, line) for line in summarize(sums, self.prices,
                                                                       "session"))
        return dict(self._costs)


def read_grown(
    reader: TranscriptReader, session_dir: Path, known: Mapping[str, Source]
) -> list[tuple[str, Chunk]]:
    """Blocking: parse every file of the session that grew past its stored offset."""
    out = []
    for path in reader.files(session_dir):
        src = known.get(str(path))
        try:
            size = path.stat().st_size
            if src is not None and size == src.offset:
                continue
            chunk = reader.parse(path, src.offset if src else 0, dict(src.state) if src else {})
        except OSError:
            continue  # gone between listing and reading
        if src is None or chunk.offset != src.offset or chunk.skipped:
            out.append((str(path), chunk))
    return out


def _stop_failure(event: EventRecord) -> ApiError:
    data = event.payload.get("data") or {}
    message = ""
    if isinstance(data, dict):
        # Claude Code 2.1.330: {"error": "unknown", "last_assistant_message": "API Error: …"}
        found = [str(data[k]) for k in ("last_assistant_message", "error") if data.get(k)]
        message = " · ".join(found)
    return ApiError(key=f"hook:{event.seq}", ts=event.ts, kind="stop_failure",
                    message=message[:500])
