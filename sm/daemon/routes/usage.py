"""Usage: what sessions spent and how full their context windows are."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from sm.core.caller import Caller
from sm.daemon.deps import CallerDep, ServicesDep
from sm.daemon.services import Services
from sm.errors import Unavailable
from sm.ops.usage import UsageOps, UsageRequest

router = APIRouter(tags=["usage"])


def _ops(svc: Services) -> UsageOps:
    if svc.usage is None:
        raise Unavailable("usage is not metered in this daemon")
    return UsageOps(svc.sessions, svc.usage, telemetry=svc.telemetry_receiver is not None)


def _caller(rec: Any) -> Caller:
    return Caller.operator() if rec is None else Caller.of(rec)


@router.get("/usage")
async def usage(
    svc: ServicesDep, caller: CallerDep, session: str | None = None,
    since: float | None = None, by: str | None = None,
) -> dict[str, Any]:
    """Token counts and cost of one session or all (``by``: model, session or day)."""
    report = await _ops(svc).report(_caller(caller), UsageRequest(session, since, by))
    return report.public()


@router.get("/usage/sessions")
async def usage_by_session(svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Each session's cost and context window use as last read."""
    found = await _ops(svc).by_session(_caller(caller))
    return {"items": {sid: u.public() for sid, u in found.items()}}
