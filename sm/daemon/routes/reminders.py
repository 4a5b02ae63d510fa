"""Reminders: ``sm remind``, ``sm remind cancel``, ``sm reminders``."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from sm.api.models import Reminder, ReminderList
from sm.daemon.deps import CallerDep, OpsDep

router = APIRouter(tags=["reminders"])


class RemindBody(BaseModel):
    delay: str
    text: str
    recurring: bool = False


@router.post("/reminders", status_code=201, response_model=Reminder)
async def add(body: RemindBody, ops: OpsDep, caller: CallerDep) -> Reminder:
    """Arm a reminder delivered to the caller (important) after ``delay``."""
    return Reminder.of(await ops.coordination.remind(caller, body.delay, body.text,
                                                     body.recurring))


@router.get("/reminders", response_model=ReminderList)
async def armed(ops: OpsDep, caller: CallerDep) -> ReminderList:
    """The caller's armed reminders (every session's for the operator), soonest first."""
    return ReminderList(items=[Reminder.of(r) for r in await ops.coordination.reminders(caller)])


@router.post("/reminders/{ref}/cancel", response_model=Reminder)
async def cancel(ref: str, ops: OpsDep, caller: CallerDep) -> Reminder:
    return Reminder.of(await ops.coordination.cancel_reminder(caller, ref))
