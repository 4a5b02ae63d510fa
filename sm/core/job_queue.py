"""The job queue and its engine.

    queued ──start──▶ running ──turn ends──▶ checking ──checks pass──▶ succeeded
       ▲                 │  ▲                   │      (recurring: queued, next run)
       │                 │  └──check failed, turns left (a follow-up message)
       │   wall time, session died, checks failed, agent could not start
       │                 ▼
       ├──── same ─── failure ── none / attempts used up ──▶ failed ──▶ dependents fail
       └── diagnosis ◀── analyzing ◀── analyze
    any state not final ──cancel──▶ cancelled ──▶ dependents fail

Every change is a compare-and-set on the job's state in one transaction with its
event (and its dependents' cascade), so two facts racing for a job change it once.
Starting a job writes its session's name before the session exists: after a
``kill -9`` the restarted daemon finds the session by that name (alive: keep; dead:
retry policy; never started: back to the queue), so a job never runs twice at once
and is never lost. This module adds jobs, takes the operations on them and dispatches
(a source of the scheduler: it wakes for the next start time or deadline, and when a job
moves); ``job_runner.py`` runs them and ``job_ledger.py`` writes their changes. Sessions
are reached only through ``Agents``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sm.core import jobs as rules
from sm.core import refs
from sm.core.events import EventBus
from sm.core.job_agents import Agents
from sm.core.job_checks import Checks
from sm.core.job_ledger import JobLedger, because
from sm.core.job_runner import JobRunner
from sm.core.jobs import JobDefaults, NewJob
from sm.core.kb import KnowledgeBase
from sm.core.scheduler import Scheduler
from sm.errors import Conflict, InvalidInput, NotFound
from sm.store import Store
from sm.store.events import EventRecord
from sm.store.job_templates import ProjectRecord, TemplateRecord, TemplateStats
from sm.store.jobs import JobRecord, RunRecord
from sm.vocab import JOB_ACTIVE, EventKind, JobState

Q, RUN = JobState.QUEUED, JobState.RUNNING
ACTIVE = tuple(JOB_ACTIVE)
MAX_BATCH = 1000


class JobQueue:
    def __init__(
        self,
        store: Store,
        bus: EventBus,
        agents: Agents,
        *,
        checks: Checks,
        kb: KnowledgeBase | None,
        defaults: JobDefaults,
        max_concurrent: int,
        project_max_concurrent: int = 0,
        analyze_seconds: float = 300.0,
        max_prompt_bytes: int = 262144,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.bus = bus
        self.agents = agents
        self.defaults = defaults
        self.max_concurrent = max_concurrent
        self.project_max_concurrent = project_max_concurrent
        self.clock = clock
        self.scheduler = Scheduler([self], clock=clock)
        self.ledger = JobLedger(store, bus, agents, poke=self.scheduler.poke, clock=clock)
        self.runner = JobRunner(store, self.ledger, agents, checks=checks, kb=kb,
                                analyze_seconds=analyze_seconds,
                                max_prompt_bytes=max_prompt_bytes, clock=clock)
        self._waiters: set[_Waiter] = set()
        self._pumped = 0.0

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self, dispatch: bool = True) -> None:
        """Listen for agent facts, reconcile the jobs that were active when the last
        daemon stopped, and (``dispatch``) start dispatching by themselves; without,
        ``pump`` dispatches (tests, benchmarks)."""
        self.agents.subscribe(self.runner.on_fact)
        self.bus.listen(self._on_event, kinds=(EventKind.JOB,))
        await self.runner.reconcile()
        if dispatch:
            self.scheduler.start()

    async def close(self) -> None:
        await self.scheduler.close()
        await self.runner.close()

    async def pump(self) -> None:
        """One dispatch pass now, then wait for every step it (and earlier facts) began."""
        await self.runner.settle()
        await self.run_due(self.clock())
        await self.runner.settle()

    # -- adding -------------------------------------------------------------------------
    async def add(self, batch: Sequence[NewJob], created_by: str | None, creator: str
                  ) -> builtins.list[JobRecord]:
        """Add jobs (one transaction). Dependencies name jobs by id, name or id prefix,
        or by name another job of the same batch. Raises InvalidInput (a bad job, a
        dependency cycle — named —, a missing directory), NotFound (dependency,
        template), Conflict (a name in use)."""
        if not batch:
            raise InvalidInput("no job given")
        if len(batch) > MAX_BATCH:
            raise InvalidInput(f"{len(batch)} jobs at once; the limit is {MAX_BATCH}")
        for new in batch:
            rules.check_new(new, self.defaults)
        ids = [secrets.token_hex(4) for _ in batch]
        local: dict[str, str] = {}
        for new, job_id in zip(batch, ids, strict=True):
            if new.name is not None:
                if new.name in local:
                    raise InvalidInput(f"two jobs in the batch are named {new.name!r}")
                local[new.name] = job_id
        labels = {job_id: new.name or job_id for new, job_id in zip(batch, ids, strict=True)}
        edges: dict[str, builtins.list[str]] = {}
        for new, job_id in zip(batch, ids, strict=True):
            deps = []
            for ref in dict.fromkeys(new.depends_on):
                dep = local.get(ref) or (await self.resolve(ref)).id
                labels.setdefault(dep, ref)
                deps.append(dep)
            edges[job_id] = deps
        rules.check_acyclic(edges, labels)
        now = self.clock()
        records = [await self._record(new, job_id, tuple(edges[job_id]), created_by, creator,
                                      now) for new, job_id in zip(batch, ids, strict=True)]
        events = []
        async with self.store.write() as conn:
            for rec in records:
                await self.store.job_templates.ensure_project(conn, rec.project, now)
                await self.store.jobs.insert(conn, rec)
                events.append(await self.ledger.event(conn, rec, "add", Q, now,
                                                      depends_on=list(rec.depends_on)))
        await self.ledger.published(events)
        return records

    async def _record(self, new: NewJob, job_id: str, deps: tuple[str, ...],
                      created_by: str | None, creator: str, now: float) -> JobRecord:
        template = None
        if new.template:
            template = await self.store.job_templates.get(new.template)
            if template is None:
                raise NotFound(f"no job template {new.template!r}")
        d = self.defaults
        cwd = Path(new.cwd or (template.cwd if template else None) or ".").expanduser()
        if not cwd.is_dir():
            raise InvalidInput(f"job directory {cwd} does not exist")
        run_at = new.run_at
        if run_at is None and new.cron:
            run_at = rules.next_run(new.cron, None, now)
        return JobRecord(
            id=job_id, name=new.name, title=new.title, task=new.task.strip(),
            template=new.template, context=dict(new.context),
            project=new.project or d.project,
            provider=new.provider or (template.provider if template else None) or d.provider,
            model=new.model or (template.model if template else None) or d.model or None,
            options={**(template.options if template else {}), **new.options},
            cwd=str(cwd.resolve()), worktree=new.worktree, priority=new.priority, state=Q,
            run_at=run_at, cron=new.cron, every=new.every,
            max_turns=new.max_turns or d.max_turns,
            max_seconds=new.max_seconds or d.max_seconds or None, checks=list(new.checks),
            retry=new.retry or d.retry, max_attempts=new.max_attempts or d.max_attempts,
            backoff=d.backoff if new.backoff is None else new.backoff,
            created_by=created_by, creator=creator, created_at=now, updated_at=now,
            depends_on=deps,
        )

    # -- reading ------------------------------------------------------------------------
    async def get(self, job_id: str) -> JobRecord:
        return await self.ledger.get(job_id)

    async def resolve(self, ref: str) -> JobRecord:
        """A job by id, name or unique id prefix. Raises NotFound, or InvalidInput for
        an ambiguous prefix."""
        return await refs.job(self.store, ref)

    async def list(self, *, project: str | None = None, states: Sequence[str] = (),
                   after: str | None = None, limit: int = 100) -> builtins.list[JobRecord]:
        """Jobs in the order they were added, after the job id ``after``."""
        return await self.store.jobs.list(project=project, states=tuple(states), after=after,
                                          limit=limit)

    async def history(
        self, job: JobRecord
    ) -> tuple[builtins.list[RunRecord], builtins.list[dict[str, Any]]]:
        """The job's finished attempts and its events, oldest first."""
        return await self.store.jobs.runs(job.id), await self.store.jobs.events(job.id)

    async def of_session(self, session_id: str) -> JobRecord | None:
        """The job a session works on now (None: it works on none)."""
        return await self.store.jobs.by_session(session_id)

    # -- what people and agents do to jobs ------------------------------------------------
    async def cancel(self, job: JobRecord, by: str) -> JobRecord:
        """Cancel a job that has not ended (its session is killed); its dependents fail.
        Raises Conflict for an ended job."""
        if job.is_final:
            raise Conflict(f"job {job.label} is {job.state} already")
        run = self.ledger.run(job, "cancelled", f"cancelled by {by}") if job.state != Q else None
        moved = await self.ledger.move(job, (job.state,), JobState.CANCELLED, "cancel", run=run,
                                 cascade=True, kill=job.session_id if job.state != Q else None,
                                 reason=f"cancelled by {by}", ended_at=self.clock())
        if moved is None:
            raise Conflict(f"job {job.label} changed meanwhile; look again")
        return moved

    async def retry(self, job: JobRecord) -> builtins.list[JobRecord]:
        """Queue a failed or cancelled job again with fresh attempts, and the jobs its
        failure cascaded to. Returns them. Raises Conflict for any other state."""
        if job.state not in (JobState.FAILED, JobState.CANCELLED):
            raise Conflict(f"job {job.label} is {job.state}; only a failed or cancelled job "
                           "is retried (requeue runs a running or succeeded one again)")
        revived = [job, *await self.store.jobs.cascaded_from(job.id)]
        now = self.clock()
        events = []
        async with self.store.write() as conn:
            for rec in revived:
                if await self.store.jobs.transition(
                        conn, rec.id, (JobState.FAILED, JobState.CANCELLED), now, state=Q,
                        attempt=0, reason=None, cause=None, diagnosis=None, run_at=None,
                        ended_at=None, session_id=None):
                    events.append(await self.ledger.event(conn, rec, "retry", Q, now))
        await self.ledger.published(events)
        return [await self.get(rec.id) for rec in revived]

    async def requeue(self, job: JobRecord, by: str) -> JobRecord:
        """Put a running job back in the queue (its session killed; not counted as an
        attempt) or run a succeeded one again. Raises Conflict otherwise."""
        if job.state not in (*ACTIVE, JobState.SUCCEEDED):
            raise Conflict(f"job {job.label} is {job.state}; requeue takes a running or "
                           "succeeded job (retry takes a failed or cancelled one)")
        active = job.state in ACTIVE
        run = self.ledger.run(job, "requeued", f"requeued by {by}") if active else None
        moved = await self.ledger.move(
            job, (job.state,), Q, "requeue", run=run, kill=job.session_id if active else None,
            attempt=0, run_at=None, ended_at=self.clock())
        if moved is None:
            raise Conflict(f"job {job.label} changed meanwhile; look again")
        return moved

    async def done(self, job: JobRecord, result: str, by_agent: bool) -> JobRecord:
        """Record the job's result. From its agent the job completes when the turn ends;
        from the operator it completes now (checks run, the session is killed).
        Raises Conflict when the job is not running."""
        if job.state not in ACTIVE:
            raise Conflict(f"job {job.label} is {job.state}; only a running job is done")
        now = self.clock()
        moved = await self.ledger.move(job, (job.state,), job.state, "done", done_at=now,
                                       result=result or None)
        if moved is None:
            raise Conflict(f"job {job.label} changed meanwhile; look again")
        if not by_agent and moved.state == RUN:
            self.runner.complete_now(moved)
        return moved

    async def wait(self, jobs: Sequence[JobRecord], timeout: float, since: float | None
                   ) -> tuple[builtins.list[JobRecord], bool, float]:
        """Block until every job has ended (a recurring one: finished a run after
        ``since``) or ``timeout`` passes. Returns the jobs, whether all ended, and the
        ``since`` used (default: now) to resume with. Changes nothing."""
        since = self.clock() if since is None else since
        deadline = self.clock() + max(0.0, timeout)
        waiter = _Waiter({j.id for j in jobs})
        self._waiters.add(waiter)
        try:
            current = {j.id: await self.get(j.id) for j in jobs}
            while True:
                waiter.changed.clear()
                for job_id in waiter.take():  # only the jobs whose events came in
                    current[job_id] = await self.get(job_id)
                if all(_ended(j, since) for j in current.values()):
                    return [current[j.id] for j in jobs], True, since
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return [current[j.id] for j in jobs], False, since
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.changed.wait(), remaining)
        finally:
            self._waiters.discard(waiter)

    # -- the scheduler's side ---------------------------------------------------------------
    async def next_due(self) -> float | None:
        dues = []
        if (queued := await self.store.jobs.next_run_at(self._pumped)) is not None:
            dues.append(queued)
        for job in await self.store.jobs.active():
            if (deadline := self.runner.deadline(job)) is not None and deadline > self._pumped:
                dues.append(deadline)
        return min(dues) if dues else None

    async def run_due(self, now: float) -> None:
        """End what ran out of time, fail what can never run, start what may."""
        self._pumped = now
        for job_id, dep_id in await self.store.jobs.blocked():
            job, dep = await self.get(job_id), await self.get(dep_id)
            await self.ledger.move(job, (Q,), JobState.FAILED, "cascade", ended_at=now,
                                   reason=because(dep), cause=dep.cause or dep.id)
        active = await self.store.jobs.active()
        for job in active:
            self.runner.expire(job, now)
        counts: dict[str, int] = {}
        for job in active:
            counts[job.project] = counts.get(job.project, 0) + 1
        caps = {p.name: p.max_concurrent or self.project_max_concurrent
                for p in await self.store.job_templates.projects()}
        ready = await self.store.jobs.ready(now)
        for chosen in rules.pick(ready, counts, self.max_concurrent, caps):
            await self.runner.start(await self.get(chosen.id))

    # -- templates and projects ---------------------------------------------------------------
    async def put_template(
        self, name: str, guidelines: str, *, provider: str | None = None,
        model: str | None = None, cwd: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> TemplateRecord:
        """Create or replace a template. Raises InvalidInput (name, empty guidelines,
        a directory that does not exist)."""
        rules.check_name(name, "template name")
        if not guidelines.strip():
            raise InvalidInput(f"template {name!r} has no guidelines text")
        if cwd and not Path(cwd).expanduser().is_dir():
            raise InvalidInput(f"template directory {cwd} does not exist")
        now = self.clock()
        old = await self.store.job_templates.get(name)
        record = TemplateRecord(
            name=name, guidelines=guidelines.strip(), provider=provider or None,
            model=model or None, cwd=str(Path(cwd).expanduser().resolve()) if cwd else None,
            created_at=old.created_at if old else now, updated_at=now,
            options=dict(options or {}))
        async with self.store.write() as conn:
            await self.store.job_templates.put(conn, record)
        return record

    async def remove_template(self, name: str) -> TemplateRecord:
        old = await self.store.job_templates.get(name)
        if old is None:
            raise NotFound(f"no job template {name!r}")
        async with self.store.write() as conn:
            await self.store.job_templates.delete(conn, name)
        return old

    async def templates(self) -> builtins.list[tuple[TemplateRecord, TemplateStats]]:
        """Every template with its statistics (over its jobs' finished attempts)."""
        rows = await self.store.job_templates.list()
        stats = await self.store.job_templates.stats([t.name for t in rows])
        return [(t, stats[t.name]) for t in rows]

    async def set_project(self, name: str, max_concurrent: int) -> ProjectRecord:
        """Set a project's concurrency cap (0: only the global one)."""
        rules.check_name(name, "project name")
        if max_concurrent < 0:
            raise InvalidInput(f"max concurrent {max_concurrent}: expected 0 or more")
        async with self.store.write() as conn:
            await self.store.job_templates.set_project(conn, name, max_concurrent, self.clock())
        self.scheduler.poke()
        project = await self.store.job_templates.project(name)
        assert project is not None
        return project

    async def projects(self) -> builtins.list[tuple[ProjectRecord, dict[str, int]]]:
        """Every project with how many of its jobs are in each state."""
        counts = await self.store.jobs.counts()
        return [(p, counts.get(p.name, {})) for p in await self.store.job_templates.projects()]

    async def _on_event(self, ev: EventRecord) -> None:
        if ev.kind == EventKind.JOB:
            job_id = ev.payload.get("job")
            for waiter in self._waiters:
                if job_id in waiter.jobs:
                    waiter.seen.add(job_id)
                    waiter.changed.set()


class _Waiter:
    def __init__(self, jobs: set[str]) -> None:
        self.jobs = jobs
        self.seen: set[str] = set()
        self.changed = asyncio.Event()

    def take(self) -> set[str]:
        seen, self.seen = self.seen, set()
        return seen


def _ended(job: JobRecord, since: float) -> bool:
    """Final, or (recurring) back in the queue after a run that succeeded since ``since``."""
    return job.is_final or (job.is_recurring and job.state == Q and job.reason is None
                            and (job.ended_at or 0) >= since)

