"""Hook facts from agents (and tmux's pane-died)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from sm.core.caller import Caller
from sm.daemon.deps import OpsDep, caller
from sm.errors import InvalidInput

router = APIRouter(tags=["hooks"])


@router.post("/hooks/{event}")
async def hook(event: str, request: Request, ops: OpsDep) -> Any:
    """One hook fact from an agent (or tmux's pane-died), applied once by its id. The
    answer is what the agent's hook prints (a PreToolUse decision), or ``{}``."""
    try:
        record = await request.json()
    except ValueError:
        raise InvalidInput(f"bad hook JSON for {event}: the body is not JSON") from None
    if not isinstance(record, dict):
        raise InvalidInput(f"hook {event}: expected a JSON object")
    who = Caller.operator("tmux") if event == "pane-died" else await caller(request)
    result = await ops.hooks.record(who, event, record)
    return result.get("output") or {}
