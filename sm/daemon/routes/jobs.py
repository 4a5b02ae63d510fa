"""Jobs, their templates and projects. Each endpoint translates to one operation of
``ops/jobs.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.api.models import (
    Job,
    JobList,
    JobShown,
    JobsWaitedOut,
    Project,
    ProjectList,
    Template,
    TemplateList,
)
from sm.core.jobs import NewJob
from sm.daemon.deps import CallerDep, OpsDep
from sm.ops.jobs import (
    AddJobs,
    CancelJobs,
    FinishJob,
    JobRef,
    ListJobs,
    PutTemplate,
    SetProject,
    TemplateRef,
    WaitJobs,
)

router = APIRouter(tags=["jobs"])


class JobBody(BaseModel):
    task: str
    title: str | None = None
    name: str | None = None
    template: str | None = None
    context: dict[str, str] = Field(default_factory=dict)
    project: str | None = None
    provider: str | None = None
    model: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    cwd: str | None = None
    worktree: bool = False
    priority: int = 0
    depends_on: list[str] = Field(default_factory=list)
    run_at: float | None = None
    cron: str | None = None
    every: float | None = None
    max_turns: int | None = None
    max_seconds: float | None = None
    checks: list[str] = Field(default_factory=list)
    retry: str | None = None
    max_attempts: int | None = None
    backoff: float | None = None

    def new(self) -> NewJob:
        values = self.model_dump()
        values["depends_on"] = tuple(self.depends_on)
        values["checks"] = tuple(self.checks)
        return NewJob(**values)


class AddBody(BaseModel):
    jobs: list[JobBody] = Field(min_length=1)


class RefsBody(BaseModel):
    refs: list[str]


class DoneBody(BaseModel):
    result: str = ""
    job: str | None = None


class WaitBody(BaseModel):
    refs: list[str]
    timeout: float = 30.0
    since: float | None = None


class TemplateBody(BaseModel):
    guidelines: str
    provider: str | None = None
    model: str | None = None
    cwd: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class ProjectBody(BaseModel):
    max_concurrent: int


@router.post("/jobs", status_code=201, response_model=JobList)
async def add(body: AddBody, ops: OpsDep, caller: CallerDep) -> JobList:
    """Add one job or a batch; dependencies may name other jobs of the batch."""
    jobs = await ops.jobs.add(caller, AddJobs(tuple(j.new() for j in body.jobs)))
    return JobList.of_jobs(jobs)


@router.get("/jobs", response_model=JobList)
async def list_jobs(
    ops: OpsDep, caller: CallerDep, project: str | None = None, state: str | None = None,
    after: str | None = None, limit: int = 100,
) -> JobList:
    """Jobs in the order they were added, cursor-paginated by id; ``state`` a comma list."""
    states = tuple(s for s in (state or "").split(",") if s)
    return JobList.of(await ops.jobs.list(caller, ListJobs(project, states, after, limit)))


@router.post("/jobs/cancel", response_model=JobList)
async def cancel(body: RefsBody, ops: OpsDep, caller: CallerDep) -> JobList:
    jobs = await ops.jobs.cancel(caller, CancelJobs(tuple(body.refs)))
    return JobList.of_jobs(jobs)


@router.post("/jobs/done", response_model=Job)
async def done(body: DoneBody, ops: OpsDep, caller: CallerDep) -> Job:
    """The calling session's job is done (with ``result``); the operator names ``job``."""
    return Job.of(await ops.jobs.done(caller, FinishJob(body.result, body.job)))


@router.post("/jobs/wait", response_model=JobsWaitedOut)
async def wait(body: WaitBody, ops: OpsDep, caller: CallerDep) -> JobsWaitedOut:
    """Block until every job ended, at most 30 s per request; ask again with ``since``."""
    out = await ops.jobs.wait(caller, WaitJobs(tuple(body.refs), body.timeout, body.since))
    return JobsWaitedOut.of(out)


@router.get("/jobs/{ref}", response_model=JobShown)
async def show(ref: str, ops: OpsDep, caller: CallerDep) -> JobShown:
    """The job, its finished attempts and its events."""
    return JobShown.of(await ops.jobs.show(caller, JobRef(ref)))


@router.post("/jobs/{ref}/retry", response_model=JobList)
async def retry(ref: str, ops: OpsDep, caller: CallerDep) -> JobList:
    """Queue a failed or cancelled job again, with the dependents it failed."""
    return JobList.of_jobs(await ops.jobs.retry(caller, JobRef(ref)))


@router.post("/jobs/{ref}/requeue", response_model=Job)
async def requeue(ref: str, ops: OpsDep, caller: CallerDep) -> Job:
    return Job.of(await ops.jobs.requeue(caller, JobRef(ref)))


@router.get("/job-templates", response_model=TemplateList)
async def templates(ops: OpsDep, caller: CallerDep) -> TemplateList:
    """Every template with its statistics."""
    rows = await ops.jobs.templates(caller)
    return TemplateList(items=[Template.of(t, s) for t, s in rows])


@router.put("/job-templates/{name}", response_model=Template)
async def put_template(name: str, body: TemplateBody, ops: OpsDep, caller: CallerDep
                       ) -> Template:
    req = PutTemplate(name, body.guidelines, body.provider, body.model, body.cwd,
                      body.options)
    return Template.of(await ops.jobs.put_template(caller, req))


@router.delete("/job-templates/{name}", response_model=Template)
async def remove_template(name: str, ops: OpsDep, caller: CallerDep) -> Template:
    return Template.of(await ops.jobs.remove_template(caller, TemplateRef(name)))


@router.get("/projects", response_model=ProjectList)
async def projects(ops: OpsDep, caller: CallerDep) -> ProjectList:
    """Projects with their jobs per state."""
    return ProjectList(items=[Project.view(v) for v in await ops.jobs.projects(caller)])


@router.put("/projects/{name}", response_model=Project)
async def set_project(name: str, body: ProjectBody, ops: OpsDep, caller: CallerDep
                      ) -> Project:
    """Set a project's concurrency cap (the operator only)."""
    return Project.of(await ops.jobs.set_project(caller, SetProject(name, body.max_concurrent)))
