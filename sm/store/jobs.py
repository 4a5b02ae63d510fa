"""Job rows, their dependency edges and one row per finished attempt.

A job changes state only through ``transition`` (compare-and-set on its current
state), so two facts racing for one job — a turn end and a cancel, a done and a
wall-time kill — change it once.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiosqlite

from sm.errors import Conflict
from sm.vocab import JOB_ACTIVE, JOB_FINAL

if TYPE_CHECKING:
    from sm.store.db import Store

_FIELDS = (
    "id", "name", "title", "task", "template", "context", "project", "provider", "model",
    "options", "cwd", "worktree", "priority", "state", "run_at", "cron", "every", "max_turns",
    "max_seconds", "checks", "retry", "max_attempts", "backoff", "attempt", "starts", "runs",
    "session_id", "session_name", "base_commit", "turns", "done_at", "result", "last_message",
    "reason", "cause", "diagnosis", "pr_url", "created_by", "creator", "created_at",
    "started_at", "ended_at", "updated_at",
)
_COLUMNS = ", ".join(_FIELDS)
_JSON = ("context", "options", "checks")
_FINAL = tuple(s.value for s in JOB_FINAL)
_ACTIVE = tuple(s.value for s in JOB_ACTIVE)


# every dependency of the job in ``jobs`` has succeeded (a recurring one: at least once)
_DEPS_DONE = ("NOT EXISTS (SELECT 1 FROM job_deps d JOIN jobs p ON p.id = d.depends_on "
              "WHERE d.job_id = jobs.id AND p.runs = 0)")


@dataclass(frozen=True)
class JobRecord:
    id: str
    name: str | None
    title: str | None
    task: str
    template: str | None
    context: dict[str, str]
    project: str
    provider: str
    model: str | None
    options: dict[str, Any]
    cwd: str
    worktree: bool
    priority: int
    state: str
    run_at: float | None  # not before: its start time, a retry's backoff, the next run
    cron: str | None
    every: float | None
    max_turns: int
    max_seconds: float | None
    checks: list[str]
    retry: str
    max_attempts: int
    backoff: float
    created_by: str | None  # the session that added it (None: the operator)
    creator: str
    created_at: float
    updated_at: float
    attempt: int = 0  # attempts started in the current run
    starts: int = 0  # sessions started for the job (they are named job-<id>-<starts>)
    runs: int = 0  # runs that succeeded
    session_id: str | None = None
    session_name: str | None = None
    base_commit: str | None = None
    turns: int = 0
    done_at: float | None = None
    result: str | None = None
    last_message: str | None = None
    reason: str | None = None
    cause: str | None = None  # the job whose failure or cancellation cascaded here
    diagnosis: str | None = None
    pr_url: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    depends_on: tuple[str, ...] = field(default=())

    @property
    def is_final(self) -> bool:
        return self.state in _FINAL

    @property
    def is_recurring(self) -> bool:
        return bool(self.cron or self.every)

    @property
    def label(self) -> str:
        return self.name or self.id


@dataclass(frozen=True)
class RunRecord:
    """One finished attempt: a session's work on the job, and how it ended."""

    job_id: str
    run: int
    attempt: int
    session_id: str | None
    template: str | None
    outcome: str  # succeeded | failed | cancelled | requeued
    reason: str | None
    result: str | None
    turns: int
    started_at: float
    ended_at: float
    id: int = 0


@dataclass(frozen=True)
class Ready:
    """A job that may start as far as its dependencies and start time go."""

    id: str
    project: str


def _record(row: sqlite3.Row, deps: tuple[str, ...] = ()) -> JobRecord:
    values = dict(row)
    for key in _JSON:
        values[key] = json.loads(values[key] or ("[]" if key == "checks" else "{}"))
    values["worktree"] = bool(values["worktree"])
    return JobRecord(**values, depends_on=deps)


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v) if k in _JSON else v for k, v in fields.items()}


class Jobs:
    def __init__(self, store: Store) -> None:
        self._store = store

    # -- writing (inside the caller's transaction) ------------------------------------
    async def insert(self, conn: aiosqlite.Connection, job: JobRecord) -> None:
        """Insert the job and its dependency edges. Raises Conflict when a job that has
        not ended holds the same name."""
        values = _encode({k: getattr(job, k) for k in _FIELDS})
        try:
            await conn.execute(
                f"INSERT INTO jobs ({_COLUMNS}) VALUES ({', '.join('?' * len(_FIELDS))})",
                tuple(values[k] for k in _FIELDS),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a job named {job.name!r} is queued or running already") from exc
        await conn.executemany(
            "INSERT INTO job_deps (job_id, depends_on) VALUES (?, ?)",
            [(job.id, dep) for dep in job.depends_on],
        )

    async def transition(
        self, conn: aiosqlite.Connection, job_id: str, from_states: Sequence[str],
        now: float, guard: Mapping[str, Any] | None = None, deps_done: bool = False,
        **fields: Any,
    ) -> bool:
        """Update the job only if its state is one of ``from_states`` (and each column
        in ``guard`` has that value; with ``deps_done``, every dependency has succeeded
        — checked here, in the writer's transaction: a read of ``ready`` may have seen a
        batch of jobs half added); returns whether it did (False: another fact changed
        it first, or a dependency has not succeeded)."""
        values = _encode(fields)
        sets = ", ".join(f"{k} = ?" for k in values)
        where = f"id = ? AND state IN ({', '.join('?' * len(from_states))})"
        if deps_done:
            where += f" AND {_DEPS_DONE}"
        for column in guard or {}:
            assert column in _FIELDS
            where += f" AND {column} IS ?"
        cur = await conn.execute(
            f"UPDATE jobs SET {sets}, updated_at = ? WHERE {where}",
            (*values.values(), now, job_id, *from_states, *(guard or {}).values()),
        )
        return cur.rowcount > 0

    async def update(
        self, conn: aiosqlite.Connection, job_id: str, now: float, **fields: Any
    ) -> None:
        values = _encode(fields)
        sets = ", ".join(f"{k} = ?" for k in values)
        await conn.execute(f"UPDATE jobs SET {sets}, updated_at = ? WHERE id = ?",
                           (*values.values(), now, job_id))

    async def add_run(self, conn: aiosqlite.Connection, r: RunRecord) -> None:
        await conn.execute(
            "INSERT INTO job_runs (job_id, run, attempt, session_id, template, outcome, reason, "
            "result, turns, started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (r.job_id, r.run, r.attempt, r.session_id, r.template, r.outcome, r.reason,
             r.result, r.turns, r.started_at, r.ended_at),
        )

    # -- reading ---------------------------------------------------------------------------
    async def get(self, job_id: str) -> JobRecord | None:
        rows = await self._select("id = ?", (job_id,), limit=1)
        return rows[0] if rows else None

    async def find(self, ref: str) -> builtins.list[JobRecord]:
        """Jobs matching ``ref`` as an id, the name of a job that has not ended, any
        name (newest first), or an id prefix — the first kind that matches wins."""
        escaped = ref.replace("%", "\\%").replace("_", "\\_") + "%"
        queries: tuple[tuple[str, tuple[Any, ...]], ...] = (
            ("id = ?", (ref,)),
            (f"name = ? AND state NOT IN {_FINAL}", (ref,)),
            ("name = ?", (ref,)),
            ("id LIKE ? ESCAPE '\\'", (escaped,)),
        )
        for where, args in queries:
            rows = await self._select(where, args, order="created_at DESC, rowid DESC", limit=5)
            if rows:
                return rows
        return []

    async def list(
        self, *, project: str | None = None, states: tuple[str, ...] = (),
        after: str | None = None, limit: int = 100,
    ) -> builtins.list[JobRecord]:
        """Jobs in the order they were added, after the job id ``after`` (a cursor)."""
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        if project is not None:
            where.append("project = ?")
            args.append(project)
        if states:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args.extend(states)
        if after:
            where.append("rowid > (SELECT rowid FROM jobs WHERE id = ?)")
            args.append(after)
        return await self._select(" AND ".join(where), tuple(args), limit=limit)

    async def by_session(self, session_id: str) -> JobRecord | None:
        """The job a session works on now (running, checking or analyzing)."""
        rows = await self._select(
            f"session_id = ? AND state IN {_ACTIVE}", (session_id,), limit=1)
        return rows[0] if rows else None

    async def active(self) -> builtins.list[JobRecord]:
        return await self._select(f"state IN {_ACTIVE}", ())

    async def ready(self, now: float, limit: int = 10000) -> builtins.list[Ready]:
        """Queued jobs due by ``now`` whose every dependency has succeeded (a recurring
        dependency: at least once), highest priority first, then oldest. Only their ids
        and projects: the dispatcher reads this on every pass."""
        async with self._store.conn.execute(
            "SELECT id, project FROM jobs "
            f"WHERE state = 'queued' AND (run_at IS NULL OR run_at <= ?) AND {_DEPS_DONE} "
            "ORDER BY priority DESC, created_at, rowid LIMIT ?", (now, limit),
        ) as cur:
            return [Ready(r[0], r[1]) for r in await cur.fetchall()]

    async def next_run_at(self, after: float) -> float | None:
        """The earliest ``run_at`` of a queued job later than ``after``."""
        async with self._store.conn.execute(
            "SELECT MIN(run_at) FROM jobs WHERE state = 'queued' AND run_at > ?", (after,)
        ) as cur:
            row = await cur.fetchone()
        return float(row[0]) if row and row[0] is not None else None

    async def dependents(self, job_id: str) -> builtins.list[JobRecord]:
        """Every job that depends on ``job_id``, directly or not, that has not ended."""
        return await self._select(
            "id IN (WITH RECURSIVE down(id) AS ("
            "SELECT job_id FROM job_deps WHERE depends_on = ? "
            "UNION SELECT d.job_id FROM job_deps d JOIN down ON d.depends_on = down.id) "
            f"SELECT id FROM down) AND state NOT IN {_FINAL}",
            (job_id,),
        )

    async def blocked(self) -> builtins.list[tuple[str, str]]:
        """(queued job, its dependency) pairs where the dependency failed or was
        cancelled without ever succeeding: the job can never run."""
        async with self._store.conn.execute(
            "SELECT j.id, p.id FROM jobs j JOIN job_deps d ON d.job_id = j.id "
            "JOIN jobs p ON p.id = d.depends_on "
            "WHERE j.state = 'queued' AND p.state IN ('failed', 'cancelled') AND p.runs = 0"
        ) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def cascaded_from(self, job_id: str) -> builtins.list[JobRecord]:
        """Jobs that failed or were cancelled because ``job_id`` did."""
        return await self._select(f"cause = ? AND state IN {_FINAL}", (job_id,))

    async def runs(self, job_id: str) -> builtins.list[RunRecord]:
        async with self._store.conn.execute(
            "SELECT id, job_id, run, attempt, session_id, template, outcome, reason, result, "
            "turns, started_at, ended_at FROM job_runs WHERE job_id = ? ORDER BY id", (job_id,)
        ) as cur:
            return [RunRecord(**dict(r)) for r in await cur.fetchall()]

    async def session_ids(self, job_id: str) -> builtins.list[str]:
        """Every session the job ran in, oldest first: its attempts' (``job_runs``), the
        one it has now, and those its events name (a diagnosis in a fresh session
        records no attempt of its own)."""
        async with self._store.conn.execute(
            "SELECT session_id, MIN(ts) FROM ("
            "SELECT session_id, started_at AS ts FROM job_runs WHERE job_id = ? "
            "UNION ALL SELECT session_id, COALESCE(started_at, created_at) FROM jobs "
            "WHERE id = ? "
            "UNION ALL SELECT session_id, ts FROM events "
            "WHERE kind = 'job' AND json_extract(payload, '$.job') = ?"
            ") WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY 2, 1",
            (job_id, job_id, job_id),
        ) as cur:
            return [str(r[0]) for r in await cur.fetchall()]

    async def events(self, job_id: str, limit: int = 500) -> builtins.list[dict[str, Any]]:
        """The job's events (kind ``job``), oldest first, as the API shows events."""
        async with self._store.conn.execute(
            "SELECT seq, ts, session_id, kind, payload FROM events "
            "WHERE kind = 'job' AND json_extract(payload, '$.job') = ? ORDER BY seq LIMIT ?",
            (job_id, limit),
        ) as cur:
            rows = await cur.fetchall()
        return [{"v": 1, "seq": r["seq"], "ts": r["ts"], "session_id": r["session_id"],
                 "kind": r["kind"], "payload": json.loads(r["payload"])} for r in rows]

    async def counts(self) -> dict[str, dict[str, int]]:
        """Per project: how many jobs are in each state."""
        out: dict[str, dict[str, int]] = {}
        async with self._store.conn.execute(
            "SELECT project, state, COUNT(*) FROM jobs GROUP BY project, state"
        ) as cur:
            for project, state, n in await cur.fetchall():
                out.setdefault(project, {})[state] = n
        return out

    async def _select(
        self, where: str, args: tuple[Any, ...], order: str = "rowid", limit: int = 100000
    ) -> builtins.list[JobRecord]:
        async with self._store.conn.execute(
            f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY {order} LIMIT ?",
            (*args, limit),
        ) as cur:
            rows = await cur.fetchall()
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        deps: dict[str, list[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            async with self._store.conn.execute(
                f"SELECT job_id, depends_on FROM job_deps "
                f"WHERE job_id IN ({', '.join('?' * len(chunk))}) ORDER BY rowid", chunk,
            ) as cur:
                for job_id, dep in await cur.fetchall():
                    deps.setdefault(job_id, []).append(dep)
        return [_record(r, tuple(deps.get(r["id"], ()))) for r in rows]

