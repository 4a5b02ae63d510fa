"""Reminders: ``sm remind``, ``sm remind cancel``, ``sm reminders``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from sm.daemon.deps import CallerDep, ServicesDep

router = APIRouter(tags=["reminders"])


class RemindBody(BaseModel):
    delay: str
    text: str
    recurring: bool = False


@router.post("/reminders", status_code=201)
async def add(body: RemindBody, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """Arm a reminder delivered to the caller (important) after ``delay``."""
    rec = await svc.coordination.reminders.add(caller, body.delay, body.text, body.recurring)
    return rec.public()


@router.get("/reminders")
async def armed(svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """The caller's armed reminders (every session's for the operator), soonest first."""
    return {"items": [r.public() for r in await svc.coordination.reminders.armed(caller)]}


@router.post("/reminders/{ref}/cancel")
async def cancel(ref: str, svc: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return (await svc.coordination.reminders.cancel(caller, ref)).public()
