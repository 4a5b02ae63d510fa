"""Usage rows: API responses, running totals, read offsets, context, errors, telemetry.

``usage_responses`` holds one row per API response, keyed by the response's identity:
inserting a key again updates that row (the later record of a response wins; its
``output_tokens`` never goes down), so nothing is counted twice. Triggers keep
``usage_totals`` (per session and model) equal to the sum of the rows, which is what
``sm list`` and a budget read without scanning the rows. Every write happens inside
the caller's transaction, with the offsets the rows were read up to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import aiosqlite

from sm.agents.usage import TelemetryRequest, Tokens

if TYPE_CHECKING:
    from sm.agents.usage import ApiError, Response
    from sm.store.db import Store

Group = Literal["model", "session", "day"]
_SUMS = ("COUNT(*), SUM(input_tokens), SUM(output_tokens), SUM(reasoning_tokens), "
         "SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cache_read_tokens)")
_TOTAL_SUMS = ("SUM(responses), SUM(input_tokens), SUM(output_tokens), SUM(reasoning_tokens), "
               "SUM(cache_write_5m_tokens), SUM(cache_write_1h_tokens), SUM(cache_read_tokens)")
_GROUP = {"session": "session_id", "day": "strftime('%Y-%m-%d', ts, 'unixepoch')",
          "model": "''", None: "''"}


@dataclass(frozen=True)
class Source:
    path: str
    offset: int
    skipped: int
    state: dict[str, Any]


@dataclass(frozen=True)
class Sum:
    """Totals of one group (``key``: a session id, a UTC day, or "") and one model."""

    key: str
    model: str
    responses: int
    tokens: Tokens


@dataclass(frozen=True)
class Context:
    session_id: str
    model: str
    tokens: int
    window: int | None
    ts: float
    alerted: bool


class Usage:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- writes (inside the caller's transaction) ---------------------------------------
    async def record(
        self, conn: aiosqlite.Connection, session_id: str, responses: Iterable[Response],
        *, project: str | None, now: float,
    ) -> None:
        """Insert responses; a key seen before updates its row instead."""
        await conn.executemany(
            "INSERT INTO usage_responses (key, session_id, ts, model, agent, request_id, "
            "project, input_tokens, output_tokens, reasoning_tokens, cache_write_5m_tokens, "
            "cache_write_1h_tokens, cache_read_tokens, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET "
            "input_tokens = excluded.input_tokens, "
            "output_tokens = max(output_tokens, excluded.output_tokens), "
            "reasoning_tokens = excluded.reasoning_tokens, "
            "cache_write_5m_tokens = excluded.cache_write_5m_tokens, "
            "cache_write_1h_tokens = excluded.cache_write_1h_tokens, "
            "cache_read_tokens = excluded.cache_read_tokens",
            [(r.key, session_id, r.ts, r.model, r.agent, r.request_id, project,
              r.tokens.input, r.tokens.output, r.tokens.reasoning, r.tokens.cache_write_5m,
              r.tokens.cache_write_1h, r.tokens.cache_read, now) for r in responses],
        )

    async def record_errors(
        self, conn: aiosqlite.Connection, session_id: str, errors: Iterable[ApiError]
    ) -> None:
        await conn.executemany(
            "INSERT OR IGNORE INTO usage_errors (key, session_id, ts, kind, message) "
            "VALUES (?, ?, ?, ?, ?)",
            [(e.key, session_id, e.ts, e.kind, e.message) for e in errors],
        )

    async def set_source(
        self, conn: aiosqlite.Connection, session_id: str, source: Source, now: float
    ) -> None:
        await conn.execute(
            "INSERT INTO usage_sources (session_id, path, offset, skipped, state, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id, path) DO UPDATE SET "
            "offset = excluded.offset, skipped = excluded.skipped, state = excluded.state, "
            "updated_at = excluded.updated_at",
            (session_id, source.path, source.offset, source.skipped, json.dumps(source.state),
             now),
        )

    async def set_context(self, conn: aiosqlite.Connection, ctx: Context) -> None:
        await conn.execute(
            "INSERT INTO usage_context (session_id, model, tokens, context_window, ts, alerted) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET "
            "model = excluded.model, tokens = excluded.tokens, "
            "context_window = excluded.context_window, ts = excluded.ts, "
            "alerted = excluded.alerted",
            (ctx.session_id, ctx.model, ctx.tokens, ctx.window, ctx.ts, int(ctx.alerted)),
        )

    async def record_telemetry(
        self, conn: aiosqlite.Connection, session_id: str, requests: Iterable[TelemetryRequest]
    ) -> None:
        await conn.executemany(
            "INSERT OR IGNORE INTO usage_telemetry (request_id, session_id, ts, model, "
            "query_source, input_tokens, output_tokens, cache_write_5m_tokens, "
            "cache_write_1h_tokens, cache_read_tokens, agent_cost_micros) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.request_id, session_id, r.ts, r.model, r.query_source, r.tokens.input,
              r.tokens.output, r.tokens.cache_write_5m, r.tokens.cache_write_1h,
              r.tokens.cache_read, r.agent_cost_micros) for r in requests],
        )

    # -- reads ----------------------------------------------------------------------------
    async def sources(self, session_id: str) -> dict[str, Source]:
        async with self._store.conn.execute(
            "SELECT path, offset, skipped, state FROM usage_sources WHERE session_id = ?",
            (session_id,),
        ) as cur:
            rows = await cur.fetchall()
        return {r[0]: Source(r[0], r[1], r[2], json.loads(r[3])) for r in rows}

    async def context(self, session_id: str) -> Context | None:
        found = await self.contexts([session_id])
        return found.get(session_id)

    async def contexts(self, session_ids: Sequence[str] | None = None) -> dict[str, Context]:
        where, args = _in("session_id", session_ids)
        async with self._store.conn.execute(
            "SELECT session_id, model, tokens, context_window, ts, alerted FROM usage_context"
            + (f" WHERE {where}" if where else ""), args,
        ) as cur:
            rows = await cur.fetchall()
        return {r[0]: Context(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}

    async def sums(
        self, group: Group | None, session_ids: Sequence[str] | None = None,
        since: float | None = None,
    ) -> list[Sum]:
        """Totals per group and model. They come from the running totals where they can:
        per session and model (no ``since``, not by day), per hour and model (all
        sessions, not by session: whole hours from the totals, the part of an hour after
        ``since`` from the rows); else from the rows (a session's through its index)."""
        if since is None and group != "day":
            where, args = _in("session_id", session_ids)
            key = "session_id" if group == "session" else "''"
            sql = (f"SELECT {key}, model, {_TOTAL_SUMS} FROM usage_totals"
                   + (f" WHERE {where}" if where else "") + " GROUP BY 1, 2")
            return await self._sums(sql, args)
        if session_ids is None and group != "session":
            return await self._hourly(group, since)
        where, args = _in("session_id", session_ids)
        clauses = [c for c in (where, "ts >= ?" if since is not None else "") if c]
        if since is not None:
            args = (*args, since)
        sql = (f"SELECT {_GROUP[group]}, model, {_SUMS} FROM usage_responses"
               + (f" WHERE {' AND '.join(clauses)}" if clauses else "") + " GROUP BY 1, 2")
        return await self._sums(sql, args)

    async def _hourly(self, group: Group | None, since: float | None) -> list[Sum]:
        key = "strftime('%Y-%m-%d', {}, 'unixepoch')" if group == "day" else "''"
        first_hour = 0 if since is None else -int(-since // 3600)  # the first whole hour
        counts = ("input_tokens, output_tokens, reasoning_tokens, cache_write_5m_tokens, "
                  "cache_write_1h_tokens, cache_read_tokens")
        sql = (
            f"SELECT k, model, {_TOTAL_SUMS} FROM ("
            f"SELECT {key.format('hour * 3600')} AS k, model, responses, {counts} "
            "FROM usage_hours WHERE hour >= ? "
            f"UNION ALL SELECT {key.format('ts')}, model, 1, {counts} FROM usage_responses "
            "WHERE ts >= ? AND ts < ?) GROUP BY 1, 2"
        )
        start = since if since is not None else 0.0
        return await self._sums(sql, (first_hour, start, first_hour * 3600.0))

    async def side_sums(
        self, group: Group | None, session_ids: Sequence[str] | None = None,
        since: float | None = None,
    ) -> list[Sum]:
        """Totals of the requests telemetry reported and no transcript holds (title
        generation and other side calls)."""
        where, args = _in("t.session_id", session_ids)
        clauses = [c for c in (where, "t.ts >= ?" if since is not None else "") if c]
        if since is not None:
            args = (*args, since)
        clauses.append("NOT EXISTS (SELECT 1 FROM usage_responses r "
                       "WHERE r.request_id = t.request_id)")
        key = {"session": "t.session_id",
               "day": "strftime('%Y-%m-%d', t.ts, 'unixepoch')"}.get(group or "", "''")
        sql = (f"SELECT {key}, t.model, COUNT(*), SUM(t.input_tokens), SUM(t.output_tokens), 0, "
               "SUM(t.cache_write_5m_tokens), SUM(t.cache_write_1h_tokens), "
               f"SUM(t.cache_read_tokens) FROM usage_telemetry t WHERE {' AND '.join(clauses)} "
               "GROUP BY 1, 2")
        return await self._sums(sql, args)

    async def telemetry(self, session_id: str) -> list[TelemetryRequest]:
        async with self._store.conn.execute(
            "SELECT request_id, ts, model, query_source, input_tokens, output_tokens, "
            "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, "
            "agent_cost_micros FROM usage_telemetry WHERE session_id = ? ORDER BY ts",
            (session_id,),
        ) as cur:
            rows = await cur.fetchall()
        return [TelemetryRequest(r[0], r[1], r[2], r[3], Tokens(
            input=r[4], output=r[5], cache_write_5m=r[6], cache_write_1h=r[7], cache_read=r[8]),
            r[9]) for r in rows]

    async def health(self, session_ids: Sequence[str] | None = None) -> dict[str, Any]:
        """Record lines skipped as malformed, and the errors recorded per kind."""
        where, args = _in("session_id", session_ids)
        tail = f" WHERE {where}" if where else ""
        async with self._store.conn.execute(
            f"SELECT COALESCE(SUM(skipped), 0) FROM usage_sources{tail}", args
        ) as cur:
            row = await cur.fetchone()
        async with self._store.conn.execute(
            f"SELECT kind, COUNT(*) FROM usage_errors{tail} GROUP BY kind", args
        ) as cur:
            kinds = {r[0]: r[1] for r in await cur.fetchall()}
        return {"skipped_lines": row[0] if row else 0, "errors": kinds}

    async def errors(self, session_id: str, limit: int = 20) -> list[dict[str, Any]]:
        async with self._store.conn.execute(
            "SELECT ts, kind, message FROM usage_errors WHERE session_id = ? "
            "ORDER BY ts DESC LIMIT ?", (session_id, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [{"ts": r[0], "kind": r[1], "message": r[2]} for r in rows]

    async def _sums(self, sql: str, args: tuple[Any, ...]) -> list[Sum]:
        async with self._store.conn.execute(sql, args) as cur:
            rows = await cur.fetchall()
        return [Sum(str(r[0]), r[1], r[2] or 0, Tokens(
            input=r[3] or 0, output=r[4] or 0, reasoning=r[5] or 0, cache_write_5m=r[6] or 0,
            cache_write_1h=r[7] or 0, cache_read=r[8] or 0)) for r in rows]


def _in(column: str, values: Sequence[str] | None) -> tuple[str, tuple[Any, ...]]:
    if values is None:
        return "", ()
    if not values:
        return "0", ()
    return f"{column} IN ({', '.join('?' * len(values))})", tuple(values)
