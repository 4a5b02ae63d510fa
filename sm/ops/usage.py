"""Usage operations: what sessions spent, and how full their context windows are.

Reading usage is open to every caller, like the session list whose cost and context
columns it fills: it reveals token counts and costs, never content.

A report covers every session, or one of: a session; a job (every session it ran in:
its attempts, the one it has now, a diagnosis's); a project (every session started in
that directory — what a project budget counts).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import cast

from sm.core import refs
from sm.core.budgets import EXCEEDED, WARN, Budgets, Standing
from sm.core.caller import Caller
from sm.core.prices import AS_OF
from sm.core.usage import ContextUse, Line, Meter
from sm.errors import InvalidInput, NotFound
from sm.store import Store
from sm.store.usage import Group

GROUPS = ("model", "session", "day")
_LAST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z
_ALL = 1_000_000


@dataclass(frozen=True)
class UsageRequest:
    session: str | None = None  # a session reference; None: every session
    since: float | None = None  # only responses at or after this time (epoch seconds)
    by: str | None = None  # "model", "session" or "day" (UTC)
    job: str | None = None  # a job reference: the sessions it ran in
    project: str | None = None  # an absolute directory: the sessions started in it


@dataclass(frozen=True)
class JobScope:
    """The job a report is about, and the sessions it ran in (oldest first)."""

    id: str
    name: str | None
    sessions: tuple[str, ...]


@dataclass(frozen=True)
class UsageReport:
    """``total`` and ``lines`` count what the agents' records hold; ``side`` the
    requests only their telemetry reported (None when telemetry is off). ``lines`` and
    ``side_lines`` are empty without ``by``."""

    total: Line
    lines: list[Line]
    side: Line | None
    side_lines: list[Line]
    session: tuple[str, str | None] | None  # (id, name) of the one session asked about
    context: ContextUse | None
    skipped_lines: int
    errors: dict[str, int]
    since: float | None
    by: str | None
    labels: dict[str, str] = field(default_factory=dict)  # by session: id → name
    prices_as_of: str = AS_OF
    job: JobScope | None = None  # the one job asked about
    project: str | None = None  # the one project asked about (its real path)


@dataclass(frozen=True)
class SummaryRequest:
    since: float  # what was spent from this time on (epoch seconds)
    top: int = 5  # sessions and projects named


@dataclass(frozen=True)
class SpendSummary:
    """What was spent since a time: the total, the sessions and projects that spent
    most (most first; ``*_count``: how many spent anything), the budgets at their
    warning or past their limit now. ``total.unpriced`` names the models whose tokens
    have no price."""

    since: float
    total: Line
    sessions: list[tuple[str, Line]]  # (the session's name or id, its line)
    session_count: int
    projects: list[Line]  # key: the directory
    project_count: int
    budgets: list[Standing]


@dataclass(frozen=True)
class SessionUsage:
    cost_micros: int
    unpriced: tuple[str, ...]
    context: ContextUse | None = None


class UsageOps:
    def __init__(self, store: Store, meter: Meter, *, telemetry: bool = False,
                 budgets: Budgets | None = None) -> None:
        self.store = store
        self.meter = meter
        self.telemetry = telemetry
        self.budgets = budgets

    async def report(self, caller: Caller, req: UsageRequest) -> UsageReport:
        """Totals (and lines per ``by``) of all sessions, or of one session, job or
        project, after reading what the agents wrote since the last read (file reads in
        a thread; a transaction per session that grew). A job that has not run yet, or
        a directory where sessions spent nothing, is an honest zero. Raises NotFound for
        an unknown session or job, or a project directory that does not exist and where
        no session was ever started; InvalidInput for more than one of session, job and
        project, a project that is no absolute path, an unknown ``by`` or a ``since``
        that is no time (not finite, before 1970 or past year 9999)."""
        if req.since is not None and not (math.isfinite(req.since)
                                          and 0 <= req.since <= _LAST_TIME):
            raise InvalidInput(f"since {req.since!r}: expected a Unix time in seconds")
        if req.by is not None and req.by not in GROUPS:
            raise InvalidInput(f"usage by {req.by!r}: expected one of {', '.join(GROUPS)}")
        scopes = [what for what, ref in (("session", req.session), ("job", req.job),
                                         ("project", req.project)) if ref]
        if len(scopes) > 1:
            raise InvalidInput(f"usage of a {' and a '.join(scopes)}: expected one of a "
                               "session, a job or a project")
        by = cast(Group | None, req.by)
        ids: list[str] | None = None
        session = job = project = None
        if req.session:
            rec = await refs.session(self.store, req.session)
            ids, session = [rec.id], (rec.id, rec.name)
            await self.meter.refresh(ids)
        elif req.job:
            found = await refs.job(self.store, req.job)
            ids = await self.store.jobs.session_ids(found.id)
            job = JobScope(found.id, found.name, tuple(ids))
            await self.meter.refresh(ids)
        else:
            live = await self.store.sessions.list(live_only=True, limit=_ALL)
            if req.project:
                project = _directory(req.project)
                ids = await self.store.sessions.ids_in(project)
                if not ids and not os.path.isdir(project):
                    raise NotFound(f"no project {project!r}: no such directory, and no "
                                   "session was started in it")
                live = [r for r in live if r.cwd == project]
            await self.meter.refresh(r.id for r in live if r.provider in self.meter.readers)
        total, lines = await self.meter.lines(by, ids, req.since)
        side, side_lines = (await self.meter.lines(by, ids, req.since, side=True)
                            if self.telemetry else (None, []))
        context = (await self.meter.contexts(ids)).get(ids[0]) if session and ids else None
        health = await self.store.usage.health(ids)
        labels = {}
        if by == "session":
            keys = {line.key for line in [*lines, *side_lines]}
            labels = {r.id: r.name for r in await self.store.sessions.list(limit=_ALL)
                      if r.id in keys and r.name}
        return UsageReport(
            total, lines if by else [], side, side_lines if by else [], session, context,
            int(health["skipped_lines"]), dict(health["errors"]), req.since, req.by, labels,
            job=job, project=project)

    async def summary(self, caller: Caller, req: SummaryRequest) -> SpendSummary:
        """What every session spent since ``req.since`` (read up to now first), the top
        sessions and projects, and the budgets near or over their limit. Raises
        InvalidInput for a ``since`` that is no time or a ``top`` below 1."""
        if not (math.isfinite(req.since) and 0 <= req.since <= _LAST_TIME):
            raise InvalidInput(f"since {req.since!r}: expected a Unix time in seconds")
        if req.top < 1:
            raise InvalidInput(f"top {req.top!r}: expected 1 or more")
        live = await self.store.sessions.list(live_only=True, limit=_ALL)
        await self.meter.refresh(r.id for r in live if r.provider in self.meter.readers)
        total, lines = await self.meter.lines("session", None, req.since)
        projects = await self.meter.by_project(req.since)
        spent = [line for line in lines if line.responses]
        named = []
        for line in _most(spent)[:req.top]:
            rec = await self.store.sessions.get(line.key)
            named.append((rec.label if rec is not None else line.key, line))
        standings = await self.budgets.standings() if self.budgets is not None else []
        return SpendSummary(
            req.since, total, named, len(spent), _most(projects)[:req.top], len(projects),
            [s for s in standings if s.level in (WARN, EXCEEDED)])

    async def by_session(self, caller: Caller) -> dict[str, SessionUsage]:
        """Every session's cost and context as last read (no file is read: this is what
        ``sm list`` shows, on the agents' fast path)."""
        costs = await self.meter.costs()
        contexts = await self.meter.contexts()
        out = {sid: SessionUsage(line.cost_micros, line.unpriced, contexts.get(sid))
               for sid, line in costs.items()}
        for sid, ctx in contexts.items():
            out.setdefault(sid, SessionUsage(0, (), ctx))
        return out


def _directory(path: str) -> str:
    """An absolute directory as sessions record theirs (symlinks resolved). Raises
    InvalidInput for anything else."""
    if not os.path.isabs(path) or "\x00" in path:
        raise InvalidInput(f"project {path[:200]!r}: expected an absolute directory")
    return os.path.realpath(path)


def _most(lines: list[Line]) -> list[Line]:
    """Most spent first: by cost, then (unpriced models) by tokens."""
    return sorted(lines, key=lambda line: (-line.cost_micros, -(line.tokens.prompt
                                                                 + line.tokens.output),
                                           line.key))
