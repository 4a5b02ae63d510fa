"""Request dependencies: the operations and the caller's proven identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sm.core.caller import Caller
from sm.daemon.peer import PEER_PID
from sm.daemon.services import Services
from sm.ops import Ops


async def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def ops(request: Request) -> Ops:  # async: FastAPI runs a plain def in a thread
    svc: Services = request.app.state.services
    return svc.ops


async def caller(request: Request) -> Caller:
    """The session the kernel places the caller in (its peer pid, see
    ``server.PeerProtocol``), else the one its token proves, else the operator."""
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    svc: Services = request.app.state.services
    return await svc.identity.authenticate(request.scope.get(PEER_PID), token,
                                           request.headers.get("x-sm-session", ""))


ServicesDep = Annotated[Services, Depends(services)]
OpsDep = Annotated[Ops, Depends(ops)]
CallerDep = Annotated[Caller, Depends(caller)]
