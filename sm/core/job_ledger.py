"""Job state changes, each a compare-and-set on the job's state in one transaction with
its event, its attempt's record and (on a final failure) its dependents' cascade.

Two facts racing for one job (a turn end and a cancel, a done and a wall-time kill)
change it once: the loser's ``move`` returns None and does nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from sm.core.events import EventBus
from sm.core.job_agents import AgentInfo, Agents
from sm.errors import NotFound
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.jobs import JobRecord, RunRecord
from sm.vocab import EventKind, JobState


class JobLedger:
    def __init__(
        self, store: Store, bus: EventBus, agents: Agents, *, poke: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.agents = agents
        self.poke = poke  # a job moved: the dispatcher looks again
        self.clock = clock

    async def get(self, job_id: str) -> JobRecord:
        job = await self.store.jobs.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return job

    async def move(
        self, job: JobRecord, expect: Sequence[str], state: str, action: str, *,
        run: RunRecord | None = None, cascade: bool = False, kill: str | None = None,
        detail: dict[str, Any] | None = None, deps_done: bool = False, **fields: Any,
    ) -> JobRecord | None:
        """Move the job to ``state`` if it is still in one of ``expect``; with its
        event (none for an empty ``action``; ``detail`` added to it), its attempt's
        record and, with ``cascade``, its waiting dependents' failure. Then kill the
        session ``kill`` — after the move, so its exit is no fact about the job any
        more. ``deps_done``: only if every dependency has succeeded. None: the job had
        moved on, or a dependency had not succeeded (nothing is written or killed)."""
        now = self.clock()
        events: list[EventRecord] = []
        async with self.store.write() as conn:
            if not await self.store.jobs.transition(conn, job.id, expect, now, state=state,
                                                    deps_done=deps_done, **fields):
                return None
            if run is not None:
                await self.store.jobs.add_run(conn, run)
            after = await self.get(job.id)
            if action:
                extra = {k: v for k, v in fields.items() if k in ("reason", "run_at")}
                events.append(await self.event(conn, after, action, state, now,
                                               **extra, **(detail or {})))
            if cascade:
                events += await self._cascade(conn, after, now)
        await self.published(events)
        if kill:
            await self.agents.kill(kill)
        return after

    async def _cascade(self, conn: Any, root: JobRecord, now: float) -> list[EventRecord]:
        events = []
        reason = because(root)
        for dep in await self.store.jobs.dependents(root.id):
            if dep.state == JobState.QUEUED and await self.store.jobs.transition(
                    conn, dep.id, (JobState.QUEUED,), now, state=JobState.FAILED,
                    reason=reason, cause=root.cause or root.id, ended_at=now):
                events.append(await self.event(conn, dep, "cascade", JobState.FAILED, now,
                                               reason=reason))
        return events

    async def attach(self, job: JobRecord, state: str, info: AgentInfo, **fields: Any) -> bool:
        """Record the session started for the job — unless the job moved on or was
        given another session meanwhile: then that session is killed."""
        async with self.store.write() as conn:
            ok = await self.store.jobs.transition(
                conn, job.id, (state,), self.clock(), guard={"session_name": info.name},
                session_id=info.id, **fields)
        if not ok:
            await self.agents.kill(info.id)
        return ok

    async def event(self, conn: Any, job: JobRecord, action: str, state: str, now: float,
                    **extra: Any) -> EventRecord:
        event = await self.store.events.append(conn, now, job.session_id, EventKind.JOB, {
            "job": job.id, "name": job.name, "action": action, "state": state,
            "attempt": job.attempt, **extra})
        assert event is not None
        return event

    async def published(self, events: list[EventRecord]) -> None:
        await self.bus.publish(list(events))
        self.poke()

    def run(self, job: JobRecord, outcome: str, reason: str | None) -> RunRecord:
        """The record of the job's current attempt, ending now with ``outcome``."""
        return RunRecord(
            job_id=job.id, run=job.runs + 1, attempt=job.attempt, session_id=job.session_id,
            template=job.template, outcome=outcome, reason=reason, result=job.result,
            turns=job.turns, started_at=job.started_at or job.created_at,
            ended_at=self.clock())


def because(dep: JobRecord) -> str:
    """Why a dependent of ``dep`` fails: ``dependency NAME failed: REASON``."""
    verb = "was cancelled" if dep.state == JobState.CANCELLED else "failed"
    return f"dependency {dep.label} {verb}" + (f": {dep.reason}" if dep.reason else "")
