"""Usage: what sessions spent and how full their context windows are."""

from __future__ import annotations

from fastapi import APIRouter

from sm.api.models import SessionUsage, SessionUsages, UsageReport
from sm.daemon.deps import CallerDep, OpsDep
from sm.ops.usage import UsageRequest

router = APIRouter(tags=["usage"])


@router.get("/usage", response_model=UsageReport)
async def usage(
    ops: OpsDep, caller: CallerDep, session: str | None = None, since: float | None = None,
    by: str | None = None, job: str | None = None, project: str | None = None,
) -> UsageReport:
    """Token counts and cost of all sessions, or of one ``session``, ``job`` (the
    sessions it ran in) or ``project`` (an absolute directory: the sessions started in
    it), read from the agents' records up to now (``by``: model, session or day)."""
    report = await ops.usage.report(caller, UsageRequest(session, since, by, job, project))
    return UsageReport.of(report)


@router.get("/usage/sessions", response_model=SessionUsages)
async def usage_by_session(ops: OpsDep, caller: CallerDep) -> SessionUsages:
    """Each session's cost and context window use as last read."""
    found = await ops.usage.by_session(caller)
    return SessionUsages(items={sid: SessionUsage.of(u) for sid, u in found.items()})
