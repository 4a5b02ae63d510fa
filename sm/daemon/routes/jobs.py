"""Jobs, their templates and projects. Each endpoint translates to one operation of
``ops/jobs.py``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sm.core.jobs import NewJob
from sm.daemon.deps import OpCallerDep, WorkDep
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


@router.post("/jobs", status_code=201)
async def add(body: AddBody, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """Add one job or a batch; dependencies may name other jobs of the batch."""
    jobs = await work.jobs.add(caller, AddJobs(tuple(j.new() for j in body.jobs)))
    return {"items": [j.public() for j in jobs]}


@router.get("/jobs")
async def list_jobs(
    work: WorkDep, caller: OpCallerDep, project: str | None = None, state: str | None = None,
    after: str | None = None, limit: int = 100,
) -> dict[str, Any]:
    """Jobs in the order they were added, cursor-paginated by id; ``state`` a comma list."""
    states = tuple(s for s in (state or "").split(",") if s)
    page = await work.jobs.list(caller, ListJobs(project, states, after, limit))
    return {"items": [j.public() for j in page.items], "next": page.next}


@router.post("/jobs/cancel")
async def cancel(body: RefsBody, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    jobs = await work.jobs.cancel(caller, CancelJobs(tuple(body.refs)))
    return {"items": [j.public() for j in jobs]}


@router.post("/jobs/done")
async def done(body: DoneBody, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """The calling session's job is done (with ``result``); the operator names ``job``."""
    return (await work.jobs.done(caller, FinishJob(body.result, body.job))).public()


@router.post("/jobs/wait")
async def wait(body: WaitBody, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """Block until every job ended, at most 30 s per request; ask again with ``since``."""
    out = await work.jobs.wait(caller, WaitJobs(tuple(body.refs), body.timeout, body.since))
    return {"items": [j.public() for j in out.jobs], "ended": out.ended, "since": out.since}


@router.get("/jobs/{ref}")
async def show(ref: str, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """The job, its finished attempts and its events."""
    detail = await work.jobs.show(caller, JobRef(ref))
    return {"job": detail.job.public(), "runs": [r.public() for r in detail.runs],
            "events": detail.events}


@router.post("/jobs/{ref}/retry")
async def retry(ref: str, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    return {"items": [j.public() for j in await work.jobs.retry(caller, JobRef(ref))]}


@router.post("/jobs/{ref}/requeue")
async def requeue(ref: str, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    return (await work.jobs.requeue(caller, JobRef(ref))).public()


@router.get("/job-templates")
async def templates(work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    """Every template with its statistics."""
    rows = await work.jobs.templates(caller)
    return {"items": [{**t.public(), "stats": s.public()} for t, s in rows]}


@router.put("/job-templates/{name}")
async def put_template(name: str, body: TemplateBody, work: WorkDep, caller: OpCallerDep
                       ) -> dict[str, Any]:
    req = PutTemplate(name, body.guidelines, body.provider, body.model, body.cwd,
                      body.options)
    return (await work.jobs.put_template(caller, req)).public()


@router.delete("/job-templates/{name}")
async def remove_template(name: str, work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    return (await work.jobs.remove_template(caller, TemplateRef(name))).public()


@router.get("/projects")
async def projects(work: WorkDep, caller: OpCallerDep) -> dict[str, Any]:
    return {"items": [{**v.project.public(), "jobs": v.counts}
                      for v in await work.jobs.projects(caller)]}


@router.put("/projects/{name}")
async def set_project(name: str, body: ProjectBody, work: WorkDep, caller: OpCallerDep
                      ) -> dict[str, Any]:
    return (await work.jobs.set_project(caller, SetProject(name, body.max_concurrent))).public()
