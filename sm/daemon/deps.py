"""Request dependencies: the services and the caller's proven identity."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from sm.core.caller import Caller as OpCaller
from sm.core.sessions import Caller
from sm.daemon.services import Services
from sm.daemon.work import Work


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def caller(request: Request) -> Caller:
    """The session whose token the request carries, or None for the operator."""
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else ""
    svc: Services = request.app.state.services
    return await svc.sessions.authenticate(token, request.headers.get("x-sm-session", ""))


ServicesDep = Annotated[Services, Depends(services)]
CallerDep = Annotated[Caller, Depends(caller)]


def work(request: Request) -> Work:
    svc: Services = request.app.state.services
    assert svc.work is not None
    return svc.work


async def op_caller(request: Request) -> OpCaller:
    """The proven caller as operations take it."""
    rec = await caller(request)
    return OpCaller.of(rec) if rec is not None else OpCaller.operator("cli")


WorkDep = Annotated[Work, Depends(work)]
OpCallerDep = Annotated[OpCaller, Depends(op_caller)]
