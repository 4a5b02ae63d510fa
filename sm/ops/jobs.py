"""Job operations: add, list, show, log, cancel, retry, requeue, done, wait; templates
and projects.

Who may do what:
    add, list, show, log, wait, templates   the operator and every session
    done                                    the session working on the job (for its own
                                            job), or the operator naming the job
    cancel, retry, requeue                  the operator, the session that added the job,
                                            and (cancel) the job's own session
    set a project's concurrency cap         the operator only
A job added by a session runs in that session's directory unless it names another.
"""

from __future__ import annotations

import builtins
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sm.core.caller import Caller
from sm.core.job_queue import JobQueue
from sm.core.jobs import NewJob
from sm.errors import InvalidInput, NotFound, Refused
from sm.ops.authz import Authz
from sm.store.job_templates import ProjectRecord, TemplateRecord, TemplateStats
from sm.store.jobs import JobRecord, RunRecord
from sm.vocab import JobState, choices

WAIT_SLICE = 30.0
MAX_PAGE = 1000


@dataclass(frozen=True)
class AddJobs:
    jobs: tuple[NewJob, ...]


@dataclass(frozen=True)
class ListJobs:
    project: str | None = None
    states: tuple[str, ...] = ()
    after: str | None = None  # a job id: the page starts after it
    limit: int = 100


@dataclass(frozen=True)
class JobRef:
    ref: str  # an id, a name or a unique id prefix


@dataclass(frozen=True)
class CancelJobs:
    refs: tuple[str, ...]


@dataclass(frozen=True)
class FinishJob:
    result: str = ""
    ref: str | None = None  # the operator names the job; a session's own job otherwise


@dataclass(frozen=True)
class WaitJobs:
    refs: tuple[str, ...]
    timeout: float = WAIT_SLICE
    since: float | None = None  # what a previous slice returned


@dataclass(frozen=True)
class PutTemplate:
    name: str
    guidelines: str
    provider: str | None = None
    model: str | None = None
    cwd: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TemplateRef:
    name: str


@dataclass(frozen=True)
class SetProject:
    name: str
    max_concurrent: int


@dataclass(frozen=True)
class JobPage:
    items: builtins.list[JobRecord]
    next: str | None


@dataclass(frozen=True)
class JobDetail:
    job: JobRecord
    runs: builtins.list[RunRecord]
    events: builtins.list[dict[str, Any]]


@dataclass(frozen=True)
class Waited:
    jobs: builtins.list[JobRecord]
    ended: bool  # every job ended (a recurring one: finished a run since ``since``)
    since: float


@dataclass(frozen=True)
class ProjectView:
    project: ProjectRecord
    counts: dict[str, int]  # jobs per state


class JobsOps:
    def __init__(self, queue: JobQueue, authz: Authz) -> None:
        self.queue = queue
        self.authz = authz

    async def add(self, caller: Caller, req: AddJobs) -> builtins.list[JobRecord]:
        """Add one job or a batch (dependencies may name jobs of the same batch).
        Raises InvalidInput (a bad job, a cycle naming it), NotFound, Conflict."""
        home = caller.session.cwd if caller.session else None
        jobs = [j if j.cwd or home is None else dataclasses.replace(j, cwd=home)
                for j in req.jobs]
        return await self.queue.add(jobs, caller.id, caller.label)

    async def list(self, caller: Caller, req: ListJobs) -> JobPage:
        if not 1 <= req.limit <= MAX_PAGE:
            raise InvalidInput(f"limit {req.limit}: expected 1…{MAX_PAGE}")
        for state in req.states:
            if state not in JobState.__members__.values():
                raise InvalidInput(f"unknown job state {state!r}; expected one of: "
                                   f"{choices(JobState)}")
        rows = await self.queue.list(project=req.project, states=req.states,
                                     after=req.after, limit=req.limit + 1)
        page = rows[: req.limit]
        return JobPage(page, page[-1].id if len(rows) > req.limit else None)

    async def show(self, caller: Caller, req: JobRef) -> JobDetail:
        """The job, its finished attempts and its events. Raises NotFound."""
        job = await self.queue.resolve(req.ref)
        runs, events = await self.queue.history(job)
        return JobDetail(job, runs, events)

    async def cancel(self, caller: Caller, req: CancelJobs) -> builtins.list[JobRecord]:
        """Cancel each job (its session is killed; its dependents fail). Raises
        Refused, Conflict (an ended job), NotFound — before cancelling any."""
        jobs = [await self.queue.resolve(ref) for ref in req.refs]
        if not jobs:
            raise InvalidInput("which job: give one or more ids or names")
        for job in jobs:
            self.authz.check_job(caller, job, "cancel", own_session=True)
        return [await self.queue.cancel(job, caller.label) for job in jobs]

    async def retry(self, caller: Caller, req: JobRef) -> builtins.list[JobRecord]:
        """Queue a failed or cancelled job again, and the dependents it failed."""
        job = await self.queue.resolve(req.ref)
        self.authz.check_job(caller, job, "retry")
        return await self.queue.retry(job)

    async def requeue(self, caller: Caller, req: JobRef) -> JobRecord:
        """Put a running job back in the queue, or run a succeeded one again."""
        job = await self.queue.resolve(req.ref)
        self.authz.check_job(caller, job, "requeue")
        return await self.queue.requeue(job, caller.label)

    async def done(self, caller: Caller, req: FinishJob) -> JobRecord:
        """Record the result of the caller's job (it completes when the turn ends), or,
        from the operator, complete the named job now. Raises NotFound (no job),
        Refused (another session's job), InvalidInput, Conflict."""
        if caller.session is None:
            if not req.ref:
                raise InvalidInput("sm job done RESULT --job ID: name the job (no session "
                                   "identity here)")
            return await self.queue.done(await self.queue.resolve(req.ref), req.result, False)
        job = await self.queue.of_session(caller.session.id)
        if job is None:
            raise NotFound(f"session {caller.label} works on no job")
        if req.ref and req.ref not in (job.id, job.name) and not job.id.startswith(req.ref):
            raise Refused(f"session {caller.label} works on job {job.label}, not {req.ref}")
        return await self.queue.done(job, req.result, True)

    async def wait(self, caller: Caller, req: WaitJobs) -> Waited:
        """Block until every job ended, for at most ``min(timeout, WAIT_SLICE)``."""
        if req.timeout < 0:
            raise InvalidInput(f"timeout {req.timeout:g}: expected 0 or more seconds")
        if not req.refs:
            raise InvalidInput("which job: give one or more ids or names")
        jobs = [await self.queue.resolve(ref) for ref in req.refs]
        found, ended, since = await self.queue.wait(jobs, min(req.timeout, WAIT_SLICE),
                                                    req.since)
        return Waited(found, ended, since)

    # -- templates and projects ---------------------------------------------------------
    async def put_template(self, caller: Caller, req: PutTemplate) -> TemplateRecord:
        return await self.queue.put_template(req.name, req.guidelines, provider=req.provider,
                                             model=req.model, cwd=req.cwd, options=req.options)

    async def remove_template(self, caller: Caller, req: TemplateRef) -> TemplateRecord:
        return await self.queue.remove_template(req.name)

    async def templates(
        self, caller: Caller
    ) -> builtins.list[tuple[TemplateRecord, TemplateStats]]:
        return await self.queue.templates()

    async def set_project(self, caller: Caller, req: SetProject) -> ProjectRecord:
        """Raises Refused for a session: capacity is the operator's to set."""
        await self.authz.check_operator(caller, "setting a project's caps")
        return await self.queue.set_project(req.name, req.max_concurrent)

    async def projects(self, caller: Caller) -> builtins.list[ProjectView]:
        return [ProjectView(p, c) for p, c in await self.queue.projects()]
